"""NB201 batch-ranking benchmark: ms per architecture, Kendall tau vs CIFAR-10 accuracy, store speed-up.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/nb201_rank.py --sample 1000

Ranks N architectures sampled with seed 0 using ntk,regions (default, exact
settings) into a fresh score store, then runs the same command again, which
the store serves.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tenas_kit.analysis.accuracy import AccuracyTable
from tenas_kit.analysis.correlation import correlations
from tenas_kit.plugins import registry

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--table", default=str(SHARED / "nb201_cifar10_accuracy.csv"))
    parser.add_argument("--extra", default="", help="extra tenaskit rank options")
    args = parser.parse_args()
    tenaskit = Path(sys.executable).with_name("tenaskit")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ranking.csv"
        command = [str(tenaskit), "rank", "--space", "nb201", "--proxies", "ntk,regions", "--sample", str(args.sample),
                   "--seed", "0", "--data", args.data, "--store", str(Path(tmp) / "scores.h5"), "--out", str(out),
                   *args.extra.split()]
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            timings.append(time.perf_counter() - started)
        print(done.stdout.splitlines()[0])
        import csv

        with open(out) as handle:
            rows = list(csv.DictReader(handle))
    table, space = AccuracyTable(args.table), registry().get("space", "nb201")
    accuracy = [table.lookup(space, row["arch"]) for row in rows]
    print(f"{args.sample} architectures: first run {timings[0]:.0f} s = {1000 * timings[0] / args.sample:.0f} ms per "
          f"architecture; second run {timings[1]:.1f} s ({timings[0] / timings[1]:.0f}x faster, served by the store)")
    for column, sign in (("ntk", 1), ("regions", 1), ("rank_sum", -1)):
        r = correlations([sign * float(row[column]) for row in rows], accuracy)
        name = "-rank_sum" if column == "rank_sum" else column
        print(f"Kendall tau {name:>9}: {r['tau']:+.3f} [{r['tau_low']:+.3f}, {r['tau_high']:+.3f}]  "
              f"Spearman rho {r['rho']:+.3f}")


if __name__ == "__main__":
    main()
