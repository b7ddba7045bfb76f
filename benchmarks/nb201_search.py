"""NB201 TE-NAS search benchmark: architecture, CIFAR-10 accuracy, wall time and memory per seed.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/nb201_search.py --seeds 0-4 --workers 2

Each search runs as its own ``tenaskit run --workers N`` process (default, exact
settings otherwise; ``--extra`` adds options) writing into a fresh temporary
folder, so nothing is reused between seeds or invocations. Printed: the machine,
commit and load before starting; per seed the architecture, its accuracy, wall
time, seconds per round, the peak memory summed over the search's processes
(sampled every 0.2 s) and the cores other processes used meanwhile; then the
accuracy's mean +- sample standard deviation (statistics.stdev) and the wall
time's min / median / max.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from benchlib import accuracy_of, machine_line, mean_stdev, measure, min_median_max, seeds
from tenas_kit.plugins import registry
from tenas_kit.runfile import read

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=seeds, default=seeds("0-4"))
    parser.add_argument("--workers", type=int, default=2, help="tenaskit run --workers (scoring processes)")
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--table", default=str(SHARED / "nb201_cifar10_accuracy.csv"))
    parser.add_argument("--extra", default="", help="extra tenaskit run options, e.g. '--ntk-mode fast'")
    args = parser.parse_args()
    tenaskit = Path(sys.executable).with_name("tenaskit")
    table, space = accuracy_of(args.table), registry().get("space", "nb201")
    accuracies, times, peaks = [], [], []
    print(machine_line())
    print(f"seeds {args.seeds}, --workers {args.workers}, data {args.data}, extra: {args.extra or '-'}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            out = Path(tmp) / f"seed{seed}.h5"
            command = [str(tenaskit), "run", "--space", "nb201", "--proxies", "ntk,regions", "--data", args.data,
                       "--seed", str(seed), "--workers", str(args.workers), "--out", str(out), *args.extra.split()]
            done = measure(command)
            run = read(out)
            arch = run["architecture"]
            accuracy = table(arch)
            accuracies.append(accuracy)
            times.append(done.seconds)
            if done.peak_gib is not None:
                peaks.append(done.peak_gib)
            rounds = " / ".join(f"{r['seconds']:.0f}" for r in run["rounds"])
            print(f"seed {seed}: {arch}  acc {accuracy:.2f}  {done.seconds:.0f} s (rounds {rounds} s); "
                  f"{done.memory_text()}; {done.cpu_text()}", flush=True)
    print(f"accuracy {mean_stdev(accuracies)}; wall time {min_median_max(times, unit=' s')} seeds"
          + (f"; peak memory max {max(peaks):.2f} GiB" if peaks else ""))


if __name__ == "__main__":
    main()
