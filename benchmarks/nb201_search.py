"""NB201 TE-NAS search benchmark: architecture, CIFAR-10 accuracy and wall time per seed.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/nb201_search.py --seeds 0-4

Each search runs as its own ``tenaskit run`` process (default, exact settings),
so wall time and peak memory are those of one search.
"""

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tenas_kit.analysis.accuracy import AccuracyTable
from tenas_kit.plugins import registry
from tenas_kit.runfile import read

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def seeds(text):
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",")]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=seeds, default=seeds("0-4"))
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--table", default=str(SHARED / "nb201_cifar10_accuracy.csv"))
    parser.add_argument("--extra", default="", help="extra tenaskit run options, e.g. '--init kaiming'")
    args = parser.parse_args()
    tenaskit = Path(sys.executable).with_name("tenaskit")
    table, space = AccuracyTable(args.table), registry().get("space", "nb201")
    accuracies, times = [], []
    print(f"data: {args.data}  extra: {args.extra or '-'}")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            out = Path(tmp) / f"seed{seed}.h5"
            command = [str(tenaskit), "run", "--space", "nb201", "--proxies", "ntk,regions", "--data", args.data,
                       "--seed", str(seed), "--out", str(out), *args.extra.split()]
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            arch = read(out)["architecture"]
            accuracy = table.lookup(space, arch)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
            accuracies.append(accuracy)
            times.append(seconds)
            print(f"seed {seed}: {arch}  acc {accuracy:.2f}  {seconds:.0f} s  (peak RSS so far {peak:.2f} GiB)", flush=True)
    std = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    print(f"mean accuracy {statistics.mean(accuracies):.2f} +- {std:.2f} over {len(accuracies)} seeds; "
          f"wall time mean {statistics.mean(times):.0f} s, median {statistics.median(times):.0f} s, max {max(times):.0f} s")


if __name__ == "__main__":
    main()
