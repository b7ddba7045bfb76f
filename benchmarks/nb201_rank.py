"""NB201 batch-ranking benchmark: ms per architecture, Kendall tau vs CIFAR-10 accuracy, store speed-up.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/nb201_rank.py --sample 1000 --workers 2

Ranks N architectures sampled with seed 0 using ntk,regions (default, exact
settings) with ``tenaskit rank --workers N`` into a score store created empty in
a temporary folder, then runs the same command again, which the store serves.
Printed: the machine, commit and load before starting; each run's wall time,
peak memory summed over its processes (sampled every 0.2 s) and the cores other
processes used meanwhile; Kendall tau and Spearman rho with 95% bootstrap
intervals. One invocation is one measurement: for a spread, repeat it.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="tenaskit rank --workers (scoring processes)")
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--table", default=str(SHARED / "nb201_cifar10_accuracy.csv"))
    parser.add_argument("--extra", default="", help="extra tenaskit rank options")
    args = parser.parse_args()
    tenaskit = Path(sys.executable).with_name("tenaskit")
    print(machine_line())
    print(f"--sample {args.sample} (seed 0), --workers {args.workers}, data {args.data}, extra: {args.extra or '-'}",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ranking.csv"
        command = [str(tenaskit), "rank", "--space", "nb201", "--proxies", "ntk,regions", "--sample", str(args.sample),
                   "--seed", "0", "--data", args.data, "--store", str(Path(tmp) / "scores.h5"), "--out", str(out),
                   "--workers", str(args.workers), *args.extra.split()]
        runs = []
        for label in ("first run, empty store", "second run, same store"):
            runs.append(measure(command))
            print(f"{label}: {runs[-1].seconds:.1f} s; {runs[-1].memory_text()}; {runs[-1].cpu_text()}", flush=True)
        print(runs[-1].stdout.splitlines()[0])
        with open(out) as handle:
            rows = list(csv.DictReader(handle))
    table, space = accuracy_of(args.table), registry().get("space", "nb201")
    accuracy = [table(row["arch"]) for row in rows]
    first, second = runs[0].seconds, runs[1].seconds
    print(f"{args.sample} architectures ({len(rows)} ranked): first run {first:.0f} s = "
          f"{1000 * first / args.sample:.0f} ms per architecture; second run {second:.1f} s "
          f"({first / second:.0f}x faster, served by the store)")
    for column, sign in (("ntk", 1), ("regions", 1), ("rank_sum", -1)):
        r = correlations([sign * float(row[column]) for row in rows], accuracy)
        name = "-rank_sum" if column == "rank_sum" else column
        print(f"Kendall tau {name:>9}: {r['tau']:+.3f} [{r['tau_low']:+.3f}, {r['tau_high']:+.3f}]  "
              f"Spearman rho {r['rho']:+.3f} [{r['rho_low']:+.3f}, {r['rho_high']:+.3f}]")


if __name__ == "__main__":
    main()
