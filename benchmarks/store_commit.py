"""Score-store commit time against store size: the segment store against the old copy-the-whole-file store.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/store_commit.py

The segment store (``tenas_kit.scorestore``) is grown from empty to
``--records`` scores by commits of ``--batch`` scores each, timing every commit
(its merges included); the table groups the commits by the store's size before
them. The old design (format 1: lock, read every key, copy the whole file in
memory, append, write a temporary file, fsync, rename; reproduced below as it
was) is timed with ``--old-commits`` commits into stores pre-built at each of
``--old-sizes`` records, since growing it commit by commit costs time quadratic
in the size. Both run in the same process, on the same disk, one after the
other. Printed besides: the machine and the load, the CPU other processes used
meanwhile, reading the grown store back, and its file count.
"""

import argparse
import fcntl
import hashlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import busy_cpu_seconds, machine_line, own_cpu_seconds  # noqa: E402
from tenas_kit.scorestore import ScoreStore  # noqa: E402


def keys(start, count):
    return [hashlib.sha1(str(i).encode()).hexdigest() for i in range(start, start + count)]


def batch(start, count):
    return {k: float(start + i) for i, k in enumerate(keys(start, count))}


class OldStore:
    """The format-1 store's commit, as it was: every commit copies the whole file."""

    def __init__(self, path):
        self.path = Path(path)

    def read(self):
        if not self.path.exists():
            return {}
        with h5py.File(self.path, "r") as h5:
            return dict(zip(h5["keys"][()].astype(str), h5["values"][()].tolist()))

    def add(self, items):
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            existing = set(self.read())
            fresh = [(k, v) for k, v in items.items() if k not in existing]
            draft = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            content = old_appended(self.path.read_bytes() if self.path.exists() else None, fresh)
            with open(draft, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(draft, self.path)


def old_appended(content, items):
    buffer = io.BytesIO(content or b"")
    new_keys = np.array([k for k, _ in items], dtype="S40")
    new_values = np.array([v for _, v in items], dtype=np.float64)
    with h5py.File(buffer, "a" if content else "w") as h5:
        if "keys" not in h5:
            h5.attrs["format"] = "tenas-kit scores"
            h5.create_dataset("keys", shape=(0,), maxshape=(None,), dtype="S40", chunks=(4096,))
            h5.create_dataset("values", shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(4096,))
        start = len(h5["keys"])
        for name, data in (("keys", new_keys), ("values", new_values)):
            h5[name].resize((start + len(data),))
            h5[name][start:] = data
    return buffer.getvalue()


def old_store_of(path, size):
    """An old store of ``size`` scores, written at once."""
    path.write_bytes(old_appended(None, list(batch(0, size).items())))
    return OldStore(path)


def ms(values):
    return [1000 * v for v in values]


def row(label, timings):
    t = sorted(ms(timings))
    p90 = t[min(len(t) - 1, int(0.9 * len(t)))]
    return (f"| {label} | {len(t)} | {statistics.median(t):.1f} | {p90:.1f} | {t[-1]:.1f} | "
            f"{statistics.fmean(t):.1f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10 ** 6)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--old-sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--old-commits", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where the stores go (default: a temporary folder)")
    args = parser.parse_args()
    print(machine_line())
    busy, own, started = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        folder = Path(folder)
        store = ScoreStore(folder / "new.h5")
        timings = []  # (size before the commit, seconds)
        grown = time.perf_counter()
        for start in range(0, args.records, args.batch):
            items = batch(start, args.batch)
            began = time.perf_counter()
            store.add(items)
            timings.append((start, time.perf_counter() - began))
        grown = time.perf_counter() - grown
        began = time.perf_counter()
        count = len(ScoreStore(folder / "new.h5", writable=False).read())
        read_seconds = time.perf_counter() - began
        files = len(list((folder / "new.h5.segments").iterdir())) + 1

        old = {}
        for size in (int(s) for s in args.old_sizes.split(",")):
            store_old = old_store_of(folder / f"old{size}.h5", size)
            old[size] = []
            for i in range(args.old_commits):
                items = batch(size + i * args.batch, args.batch)
                began = time.perf_counter()
                store_old.add(items)
                old[size].append(time.perf_counter() - began)
            (folder / f"old{size}.h5").unlink()
    elapsed = time.perf_counter() - started
    other = None
    if busy is not None:
        other = (busy_cpu_seconds() - busy - (own_cpu_seconds() - own)) / elapsed

    print(f"\nsegment store: {len(timings)} commits of {args.batch} scores, {grown:.1f} s in all; "
          f"read back {count} scores in {read_seconds:.2f} s from {files} files")
    print("\n| store size before the commit | commits | median ms | p90 ms | max ms | mean ms |")
    print("|---|---|---|---|---|---|")
    bounds = [0, 10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6, float("inf")]
    for low, high in zip(bounds, bounds[1:]):
        sizes = [size for size, _ in timings if low <= size < high]
        if sizes:
            label = f"{sizes[0]:,}" if len(sizes) == 1 else f"{sizes[0]:,} to {sizes[-1]:,}"
            print(row(label, [t for size, t in timings if low <= size < high]))
    print("\nold design (format 1), commits into stores pre-built at each size:\n")
    print("| store size before the commit | commits | median ms | p90 ms | max ms | mean ms |")
    print("|---|---|---|---|---|---|")
    for size, chosen in old.items():
        print(row(f"{size:,}", chosen))
    if other is not None:
        print(f"\nother processes used {other:.2f} of {os.cpu_count()} cores on average during the {elapsed:.0f} s run")


if __name__ == "__main__":
    main()
