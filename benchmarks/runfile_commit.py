"""What committing a search round costs: the run file rewritten whole and renamed, against HDF5 writing in place.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/runfile_commit.py

A round is committed by ``tenas_kit.runfile.RunFile.write_round``: the round's
groups are added to the file's image in memory, and the whole image is written
beside ``NAME.partial``, fsynced and renamed over it. The old way (before issue
22) added the same groups to the file on disk and flushed it, which a full disk
could leave damaged. Both are timed here on rounds shaped like the built-in
spaces' (NAS-Bench-201: 6 edges, 24 candidates in the first round; DARTS: 2
cells of 14 edges, 196), with made-up numbers, ``--repeats`` times each, in a
temporary folder (``--folder`` to choose its disk). Printed: the machine and
load, the file's size after each round, and the median and slowest commit.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import machine_line  # noqa: E402
from tenas_kit.pruner import Candidate, Decision, Measurement  # noqa: E402
from tenas_kit.runfile import RunFile, partial_path  # noqa: E402
from tenas_kit.sealedfile import LIBVER  # noqa: E402

# (mask shape, candidates per round): what the tenas pruner asks of each space
SPACES = {"nb201": ((6, 5), [24, 18, 12]), "darts": ((2, 14, 8), [196, 112, 56])}
PROXIES = ("ntk", "regions")
MEASURE_REPEATS = 3  # the default --repeats of a search


def rounds(shape, counts, rng):
    for count in counts:
        candidates = [Candidate((i % shape[0], i % shape[-2], i % shape[-1]), f"cell/{i}<-0/sep_conv_3x3",
                                np.ones(shape, bool)) for i in range(count)]
        measurements = [Measurement(name, name != "ntk", 1.0, rng.random(MEASURE_REPEATS),
                                    rng.random((MEASURE_REPEATS, count))) for name in PROXIES]
        columns = {name: rng.random(count) for name in ("ntk_rank", "regions_rank", "rank_sum")}
        yield candidates, measurements, Decision(np.ones(shape, bool), list(range(count // 4)), columns)


def in_place(path):
    """The old commit: the round's groups written to the file on disk, then flushed."""
    handle = h5py.File(partial_path(path), "w", libver=LIBVER)
    handle.attrs["rounds_done"] = 0
    handle.create_group("rounds")
    run = RunFile(handle, None, path)
    run._commit = lambda kept=0: handle.flush()
    return run


def timed(make, shape, counts, folder, repeats):
    seconds, sizes = [[] for _ in counts], []
    for repeat in range(repeats):
        path = folder / f"run{repeat}.h5"
        run = make(path)
        for index, (candidates, measurements, decision) in enumerate(rounds(shape, counts, np.random.default_rng(0))):
            started = time.perf_counter()
            run.write_round(index, np.ones(shape, bool), candidates, measurements, decision, 1.0)
            seconds[index].append(time.perf_counter() - started)
            if repeat == 0:
                run.h5.flush()
                sizes.append(partial_path(path).stat().st_size)
        run.close()
        partial_path(path).unlink()
    return seconds, sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--folder", type=Path, default=None, help="where the files are written (default: a temp folder)")
    args = parser.parse_args()
    print(machine_line())
    print("| space | round | candidates | file KiB after it | commit | median ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        for space, (shape, counts) in SPACES.items():
            whole = lambda path: RunFile.open(path, {"space": space}, {}, "benchmark")  # noqa: E731
            for name, make in (("whole file, renamed", whole), ("in place, flushed (old)", in_place)):
                seconds, sizes = timed(make, shape, counts, Path(tmp), args.repeats)
                for index, count in enumerate(counts):
                    times = [1000 * s for s in seconds[index]]
                    print(f"| {space} | {index + 1} | {count} | {sizes[index] / 1024:.0f} | {name} | "
                          f"{statistics.median(times):.1f} | {max(times):.1f} |")


if __name__ == "__main__":
    main()
