"""AZ-NAS's indicators, VKDNW, ZiCo, MeCo and SWAP on NB201: Kendall tau vs CIFAR-10 accuracy, ms per cell.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/new_proxies.py --cells az=400 --cells zico=400 --cells vkdnw=200 --cells jacov=200

The architectures are those of `tenaskit rank --sample 1000 --seed 0`; a group
given fewer cells (`--cells GROUP=N`) takes the first N of them, so smaller
samples nest in larger ones. Each group is one `tenaskit rank` command on the
network its paper scored (no `--proxy-network`: each proxy's default), one
repeat, the shared images. AZ-NAS's four indicators run in one command, as
they share a forward and backward pass; their cost is the group's.

Every proxy here can score -inf (a cell that passes its input through, or
ignores it); such a score ranks last, as `tenaskit rank` orders it and as the
papers' rank aggregation does, so it is kept in tau rather than dropped. As in
`benchmarks/zero_cost.py`, tau is over the architectures asked for (isomorphic
ones share their cell's score) and the cost is the command's wall time
(process start-up included) over them; each cell is scored once. Besides the
table: AZ-NAS's and VKDNW's own aggregates (sum of log ranks) on the
architectures every component scored.

Scores go to a new, empty store in a temporary folder unless `--store` is given.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from benchlib import accuracy_of, machine_line, measure
from tenas_kit.analysis.correlation import correlations
from tenas_kit.lifecycle import choose_archs
from tenas_kit.plugins import registry

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# name -> (proxies, extra rank options)
GROUPS = {
    "meco": (["meco"], []),
    "swap": (["swap"], []),
    "az": (["az_expressivity", "az_progressivity", "az_trainability", "az_complexity"], []),
    "zico": (["zico"], []),
    "vkdnw": (["vkdnw"], []),
    # VKDNW's jacov: kaiming (fan-in) weights on the C=16, N=5 network, real images.
    "jacov": (["jacob_cov"], ["--proxy-network", "evaluation", "--init", "kaiming"]),
}
# Kendall tau on NB201 CIFAR-10, all 15625 cells, as published (None: not published as tau).
PUBLISHED = {
    "az_expressivity": None, "az_progressivity": None, "az_trainability": None, "az_complexity": 0.578,
    "AZ-NAS (sum of log ranks)": 0.741,
    "vkdnw": 0.604,  # VKDNW_single, Table 1 run in the authors' notebook (its 128-tensor ablation: 0.618)
    "VKDNW_agg (sum of log ranks)": 0.750,
    "zico": 0.589, "meco": None, "swap": None, "jacob_cov": 0.545,
}
PUBLISHED_RHO = {"meco": "0.89 (C10)", "swap": "0.90 (C100, regularised)", "AZ-NAS (sum of log ranks)": "0.913",
                 "zico": "0.785", "jacob_cov": "0.712", "vkdnw": "0.798"}


def ranks_last(values):
    """Scores with every non-finite one replaced below the lowest finite score: same order, -inf last."""
    values = np.asarray(values, float)
    finite = np.isfinite(values)
    floor = values[finite].min() - 1 if finite.any() else 0.0
    return np.where(finite, values, floor)


def log_rank_sum(columns):
    """AZ-NAS's aggregate: sum over columns of log(rank / n), ranks ascending (higher score, higher rank)."""
    n = len(columns[0])
    return sum(np.log(rankdata(ranks_last(c)) / n) for c in columns)


def row(name, cells, scores, accuracy, ms, command):
    r = correlations(ranks_last(scores), accuracy)
    published = PUBLISHED.get(name)
    diff = f"{r['tau'] - published:+.3f}" if published is not None else "-"
    return (f"| {name} | {cells} | {r['tau']:+.3f} | [{r['tau_low']:+.3f}, {r['tau_high']:+.3f}] | "
            f"{published if published is not None else '-'} | {diff} | {r['rho']:+.3f} | "
            f"{PUBLISHED_RHO.get(name, '-')} | {ms} | {command} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--groups", default=",".join(GROUPS), help=f"of {', '.join(GROUPS)}")
    parser.add_argument("--cells", action="append", default=[], metavar="GROUP=N",
                        help="rank only the first N sampled architectures for GROUP (a slow proxy)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--table", default=str(SHARED / "nb201_cifar10_accuracy.csv"))
    parser.add_argument("--store", type=Path, default=None)
    args = parser.parse_args()
    limits = {g: int(n) for g, n in (item.split("=") for item in args.cells)}
    tenaskit = Path(sys.executable).with_name("tenaskit")
    space = registry().get("space", "nb201")
    table = accuracy_of(args.table)
    archs = choose_archs(space, sample=args.sample, seed=0)
    print(machine_line())
    print(f"{args.sample} NB201 architectures (tenaskit rank --sample {args.sample} --seed 0), one repeat, "
          f"--workers {args.workers}, data {args.data}")
    scores, notes, lines = {}, [], []
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or Path(tmp) / "scores.h5"
        for group in args.groups.split(","):
            proxies, extra = GROUPS[group]
            count = limits.get(group, args.sample)
            archs_file = Path(tmp) / f"{group}.txt"
            archs_file.write_text("\n".join(archs[:count]) + "\n")
            out = Path(tmp) / f"{group}.csv"
            command = [str(tenaskit), "rank", "--space", "nb201", "--proxies", ",".join(proxies), "--archs",
                       str(archs_file), "--seed", "0", "--repeats", "1", "--data", args.data, "--store", str(store),
                       "--out", str(out), "--workers", str(args.workers), *extra]
            done = measure(command)
            with open(out) as handle:
                rows = list(csv.DictReader(handle))
            accuracy = [table(r["arch"]) for r in rows]
            ms = f"{1000 * done.seconds / len(rows):.0f}"  # per architecture asked for
            shown = (f"`tenaskit rank --proxies {','.join(proxies)} --sample {args.sample} --seed 0 --repeats 1"
                     + (f" (first {count})" if count < args.sample else "") + (" " + " ".join(extra) if extra else "")
                     + "`")
            for proxy in proxies:
                values = [float(r[proxy]) for r in rows]
                scores[proxy] = dict(zip((r["arch"] for r in rows), zip(values, accuracy)))
                lines.append(row(proxy, len(rows), values, accuracy, ms, shown))
                print(lines[-1], flush=True)
            distinct = len({space.canonical(space.parse(r["arch"])) for r in rows})
            notes.append(f"{group}: the first {count} architectures, {distinct} distinct cells, "
                         f"{done.seconds:.0f} s; {done.memory_text()}; {done.cpu_text()}")
    for name, parts in (("AZ-NAS (sum of log ranks)", ["az_expressivity", "az_progressivity", "az_trainability",
                                                        "az_complexity"]),
                        ("VKDNW_agg (sum of log ranks)", ["vkdnw", "jacob_cov", "az_expressivity", "az_trainability",
                                                          "az_complexity"])):
        if not all(p in scores for p in parts):
            continue
        common = [a for a in scores[parts[0]] if all(a in scores[p] for p in parts)]
        aggregate = log_rank_sum([[scores[p][a][0] for a in common] for p in parts])
        lines.append(row(name, len(common), aggregate, [scores[parts[0]][a][1] for a in common], "-",
                         "from the rows above"))
        print(lines[-1], flush=True)
    print("\n".join(notes))


if __name__ == "__main__":
    main()
