"""Every built-in proxy on the same NB201 architectures: Kendall tau vs CIFAR-10 accuracy, ms per architecture.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/zero_cost.py --sample 1000 --network evaluation --workers 2

Each proxy is ranked on its own (`tenaskit rank --proxies NAME --workers N`, one
repeat, as the published re-measurements score once) so that its time is its own;
the wall time includes process start-up, divided over the architectures. The
published column is AZ-NAS's re-measurement on all of NAS-Bench-201 with the
C=16, N=5 networks (TENAS.md section 6); `--network evaluation` scores those
networks, `--network supernet` the small C=3, N=1 search network.

Scores go into a score store created empty in a temporary folder, so every
invocation computes every score and its times are never cache hits. `--store
PATH` keeps the store instead (an interrupted benchmark then resumes), but its
times are then only those of the scores it had to compute: the script says so
when the store existed before. Printed besides the table: the machine, commit and
load before starting, and per proxy the cores other processes used meanwhile.
"""

import argparse
import csv
import sys
import tempfile
from pathlib import Path

from benchlib import accuracy_of, machine_line, measure
from tenas_kit.analysis.correlation import correlations
from tenas_kit.plugins import registry

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# Kendall tau with CIFAR-10 accuracy on all 15625 architectures (AZ-NAS, CVPR 2024, Table 1).
PUBLISHED = {"naswot": 0.557, "synflow": 0.571, "snip": 0.454, "grad_norm": 0.357, "jacob_cov": None,
             "zen": 0.296, "params": 0.578, "flops": 0.578}
# Spearman rho on CIFAR-10 (Abdelfattah et al., ICLR 2021), the only published figure for jacob_cov.
PUBLISHED_RHO = {"grad_norm": 0.594, "snip": 0.596, "synflow": 0.737, "jacob_cov": 0.731}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--network", default="evaluation", choices=["evaluation", "supernet"])
    parser.add_argument("--proxies", default=",".join(PUBLISHED))
    parser.add_argument("--workers", type=int, default=2, help="tenaskit rank --workers (scoring processes)")
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--table", default=str(SHARED / "nb201_cifar10_accuracy.csv"))
    parser.add_argument("--store", type=Path, default=None,
                        help="keep scores in this store (default: a new empty one in a temporary folder)")
    args = parser.parse_args()
    tenaskit = Path(sys.executable).with_name("tenaskit")
    table, space = accuracy_of(args.table), registry().get("space", "nb201")
    print(machine_line())
    print(f"{args.sample} NB201 architectures (seed 0), {args.network} network, one repeat, "
          f"--workers {args.workers}, data {args.data}")
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or Path(tmp) / "scores.h5"
        if args.store:
            store.parent.mkdir(parents=True, exist_ok=True)
            print(f"store {store}: " + ("existed before this run; the ms/arch of the scores it already held "
                                        "time cache hits" if store.exists() else "new"))
        print("| proxy | Kendall tau | 95% CI | published tau | difference | Spearman rho | published rho | ms/arch |")
        print("|---|---|---|---|---|---|---|---|")
        notes = []
        for proxy in args.proxies.split(","):
            out = Path(tmp) / f"zero_cost_{proxy}_{args.network}.csv"
            command = [str(tenaskit), "rank", "--space", "nb201", "--proxies", proxy, "--sample", str(args.sample),
                       "--seed", "0", "--repeats", "1", "--proxy-network", args.network, "--data", args.data,
                       "--store", str(store), "--out", str(out), "--workers", str(args.workers)]
            done = measure(command)
            with open(out) as handle:
                rows = list(csv.DictReader(handle))
            r = correlations([float(row[proxy]) for row in rows], [table(row["arch"]) for row in rows])
            published = PUBLISHED.get(proxy)
            diff = f"{r['tau'] - published:+.3f}" if published is not None else "-"
            print(f"| {proxy} | {r['tau']:+.3f} | [{r['tau_low']:+.3f}, {r['tau_high']:+.3f}] | "
                  f"{published if published is not None else '-'} | {diff} | {r['rho']:+.3f} | "
                  f"{PUBLISHED_RHO.get(proxy, '-')} | {1000 * done.seconds / args.sample:.0f} |", flush=True)
            notes.append(f"{proxy}: {done.seconds:.0f} s; {done.memory_text()}; {done.cpu_text()}")
    print("\n".join(notes))


if __name__ == "__main__":
    main()
