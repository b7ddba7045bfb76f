"""Which proxies to combine: each proxy's Kendall tau, and every combination's by the sum of log ranks.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/combinations.py --proxies meco,synflow,flops,swap --sample 1000
    .venv/bin/python benchmarks/combinations.py --proxies meco,swap,synflow,flops,zico,naswot,\\
        az_expressivity,az_progressivity,az_trainability,az_complexity,ntk,regions --top 150

Ranks the architectures with one `tenaskit rank --repeats 1 --seed 0` into a
new empty store (`--sample N`: those of `--sample N --seed 0`; `--top N`: the
N most accurate distinct cells of the accuracy table, to see whether a proxy
tells the best cells apart), or reads a CSV such a command wrote (`--csv`).
Prints, against CIFAR-10 accuracy: each proxy's tau and the accuracy of the
cell it puts first; then every combination of two or more proxies, equal
weights, by AZ-NAS's sum of log ranks (ties share the lowest rank, a
non-finite score ranks last), best tau first.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau, rankdata

from benchlib import accuracy_of, machine_line, measure
from tenas_kit.lifecycle import choose_archs
from tenas_kit.plugins import registry

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def top_cells(table_path, space, count):
    with open(table_path) as handle:
        rows = list(csv.DictReader(handle))
    column = next(c for c in rows[0] if "acc" in c)
    seen, cells = set(), []
    for row in sorted(rows, key=lambda r: -float(r[column])):
        key = space.canonical(space.parse(row["arch"]))
        if key not in seen:
            seen.add(key)
            cells.append(row["arch"])
        if len(cells) == count:
            break
    return cells


def ranked(args, space):
    archs = top_cells(args.table, space, args.top) if args.top else choose_archs(space, sample=args.sample, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        archs_file, out = Path(tmp) / "archs.txt", Path(tmp) / "ranking.csv"
        archs_file.write_text("\n".join(archs) + "\n")
        done = measure([str(Path(sys.executable).with_name("tenaskit")), "rank", "--space", "nb201", "--proxies",
                        args.proxies, "--archs", str(archs_file), "--seed", "0", "--repeats", "1", "--data", args.data,
                        "--store", str(Path(tmp) / "scores.h5"), "--out", str(out), "--workers", str(args.workers)])
        print(f"{len(archs)} architectures in {done.seconds:.0f} s; {done.cpu_text()}")
        with open(out) as handle:
            return list(csv.DictReader(handle))


def oriented(rows, name):
    """Scores turned so that higher is better, non-finite ones below every finite one."""
    values = np.array([float(r[name]) for r in rows])
    if not registry().get("proxy", name).higher_is_better:
        values = -values
    finite = np.isfinite(values)
    values[~finite] = values[finite].min() - 1 if finite.any() else 0.0
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proxies", default="meco,synflow,flops,swap")
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--top", type=int, default=0, help="the N most accurate distinct cells instead of a sample")
    parser.add_argument("--csv", type=Path, help="read this ranking instead of running one")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--table", default=str(SHARED / "nb201_cifar10_accuracy.csv"))
    args = parser.parse_args()
    space, table = registry().get("space", "nb201"), accuracy_of(args.table)
    print(machine_line())
    rows = list(csv.DictReader(open(args.csv))) if args.csv else ranked(args, space)
    accuracy = np.array([table(r["arch"]) for r in rows])
    columns = {name: oriented(rows, name) for name in args.proxies.split(",")}
    for name, values in columns.items():
        first = int(np.argmax(values))
        print(f"{name:>18}: tau {kendalltau(values, accuracy)[0]:+.3f}; first: {accuracy[first]:.2f} {rows[first]['arch']}")
    found = []
    for size in range(2, len(columns) + 1):
        for names in itertools.combinations(columns, size):
            total = sum(np.log(rankdata(columns[n], method="min") / len(rows)) for n in names)
            found.append((kendalltau(total, accuracy)[0], accuracy[int(np.argmax(total))], names))
    for tau, first, names in sorted(found, key=lambda f: -f[0])[:args.top and 15 or 40]:
        print(f"{tau:+.3f}  first {first:.2f}  {' + '.join(names)}")


if __name__ == "__main__":
    main()
