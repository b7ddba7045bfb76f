"""Scale-out benchmark: the ray executor against the process executor on this machine, the whole NB201
space in one ranking, and a population of 10,000 DARTS cells through Ray.

Run from the repository root after installing with the extra (``pip install '.[ray]'``):

    .venv/bin/python benchmarks/scale_out.py                       # every part
    .venv/bin/python benchmarks/scale_out.py --parts throughput --rounds 3

Parts:

- ``throughput``: the same ranking through ``--executor process --workers N`` and ``--executor ray
  --ray-cpus N`` (a local Ray instance), alternately, ``--rounds`` times each, for two proxy sets: the fast
  one (milliseconds a cell, where a per-task overhead would show) and TE-NAS's ntk,regions (about a second
  a cell). The rate is distinct cells scored per second of scoring, from the first job out to the last
  result in; start-up (PyTorch, the pool or the Ray instance) is shown apart. Every CSV must be identical.
- ``space``: ``rank --space nb201 --all`` (6466 distinct cells) with the fast set through Ray: time, the
  driver's peak resident memory next to that of ``--sample 1000``, then the same command again (all from
  the store).
- ``darts``: 10,000 DARTS genotypes drawn with ``--sample`` and ranked with the fast set through Ray; the
  top cells are printed as Genotype(...) text that ``tenaskit export`` and ``inspect --genotype`` read.

Each ranking runs in a child process of this script; the driver's peak memory is its own high-water mark
(the workers are reported apart), and the CPU that other processes on the machine used meanwhile is the
machine's busy time less that of the ranking's process tree. One invocation is one measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import busy_cpu_seconds, machine_line  # noqa: E402

FAST = "synflow,params"
TENAS = "ntk,regions"
TICK = os.sysconf("SC_CLK_TCK")


def child(spec):
    """One ranking in this process; prints a JSON line with its timings and the driver's peak memory."""
    import resource

    from tenas_kit import SearchConfig, lifecycle

    class Clock(lifecycle.Reporter):
        first = last = None
        cells = 0

        def cells_started(self, cells, remaining):
            self.first, self.cells = time.perf_counter(), len(remaining)

        def step(self, proxy, repeat, label):
            self.last = time.perf_counter()

    started = time.perf_counter()
    config = SearchConfig(space=spec["space"], proxies=[(p, 1.0) for p in spec["proxies"].split(",")],
                          data=spec["data"], repeats=spec["repeats"], seed=0, executor=spec["executor"],
                          executor_options=spec["options"], options=spec.get("settings", {}))
    clock = Clock()
    ranking = lifecycle.rank(config, sample=spec.get("sample"), every=spec.get("every", False), store=spec["store"],
                             out=spec["out"], reporter=clock)
    total = time.perf_counter() - started
    scoring = (clock.last - clock.first) if clock.last is not None else 0.0
    order = ranking.order()[: spec.get("top", 0)]
    print(json.dumps({
        "total": total, "scoring": scoring, "cells": clock.cells, "unique": ranking.unique,
        "computed": ranking.computed, "driver_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "top": [[ranking.archs[i], float(ranking.rank_sum[i])] for i in order],
    }))


class Tree(threading.Thread):
    """CPU seconds of a process and all its descendants, the last value seen of each (sampled every 0.2 s),
    and the peak resident memory of the descendants that are not the driver."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.cpu, self.worker_peak = pid, {}, 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            parents = {}
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    parents.setdefault(int(stat[1]), []).append((int(entry), stat))
            todo, workers = [self.pid], 0
            while todo:
                for pid, stat in parents.get(todo.pop(), []):
                    todo.append(pid)
                    self.cpu[pid] = (int(stat[11]) + int(stat[12])) / TICK
                    workers += int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
            try:
                stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
                self.cpu[self.pid] = (int(stat[11]) + int(stat[12])) / TICK
            except OSError:
                pass
            self.worker_peak = max(self.worker_peak, workers)
            self.stop.wait(0.2)


def measure(spec):
    busy = busy_cpu_seconds()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    tree = Tree(process.pid)
    tree.start()
    out, err = process.communicate()
    tree.stop.set()
    tree.join()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"ranking failed ({spec['executor']}): {err.strip()[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    own = sum(tree.cpu.values())
    other = None if busy is None else max(0.0, (busy_cpu_seconds() - busy - own) / wall)
    result.update(wall=wall, own_cpu=own, other_cores=other, worker_peak=tree.worker_peak)
    return result


def describe(r):
    other = "n/a" if r["other_cores"] is None else f"{r['other_cores']:.2f}"
    return (f"{r['computed']} scores of {r['cells']} cells in {r['scoring']:.1f} s of scoring = "
            f"{r['cells'] / r['scoring']:.2f} cells/s; wall {r['wall']:.1f} s (start-up and the rest "
            f"{r['wall'] - r['scoring']:.1f} s); driver peak {r['driver_peak'] / 2**20:.0f} MiB, other processes of the ranking at peak "
            f"{r['worker_peak'] / 2**20:.0f} MiB summed; other processes used {other} cores on average")


def throughput(args, tmp):
    cpus = args.cpus
    for proxies, sample in ((FAST, args.fast_sample), (TENAS, args.tenas_sample)):
        print(f"\n== throughput: nb201 --sample {sample} --proxies {proxies} --repeats 1, {cpus} CPUs each", flush=True)
        rates, csvs = {"process": [], "ray": []}, set()
        for round_ in range(args.rounds):
            for executor in ("process", "ray"):
                options = {"workers": cpus} if executor == "process" else {"ray_cpus": cpus}
                name = f"{executor}-{proxies.replace(',', '+')}-{round_}"
                spec = {"space": "nb201", "proxies": proxies, "data": args.data, "repeats": 1, "sample": sample,
                        "executor": executor, "options": options, "store": f"{tmp}/{name}.h5",
                        "out": f"{tmp}/{name}.csv"}
                result = measure(spec)
                rates[executor].append(result["cells"] / result["scoring"])
                csvs.add(Path(spec["out"]).read_text())
                print(f"  round {round_ + 1} {executor:7s}: {describe(result)}", flush=True)
        process, ray = statistics.median(rates["process"]), statistics.median(rates["ray"])
        print(f"  median rate: process {process:.2f} cells/s, ray {ray:.2f} cells/s: ray's overhead "
              f"{100 * (process - ray) / process:+.1f}% (negative: faster); CSVs identical: {len(csvs) == 1}",
              flush=True)


def space(args, tmp):
    print(f"\n== the whole space: nb201 --proxies {FAST} --repeats 1 through ray ({args.cpus} CPUs)", flush=True)
    base = {"space": "nb201", "proxies": FAST, "data": args.data, "repeats": 1, "executor": "ray",
            "options": {"ray_cpus": args.cpus}}
    small = measure({**base, "sample": 1000, "store": f"{tmp}/sample.h5", "out": f"{tmp}/sample.csv"})
    print(f"  --sample 1000: {describe(small)}", flush=True)
    every = {**base, "every": True, "store": f"{tmp}/all.h5", "out": f"{tmp}/all.csv", "top": 5}
    full = measure(every)
    print(f"  --all: {full['unique']} distinct cells; {describe(full)}", flush=True)
    again = measure(every)
    print(f"  --all again: {again['computed']} scores computed (the rest from the store), wall {again['wall']:.1f} s, "
          f"driver peak {again['driver_peak'] / 2**20:.0f} MiB", flush=True)
    print(f"  driver peak memory: {small['driver_peak'] / 2**20:.0f} MiB at --sample 1000, "
          f"{full['driver_peak'] / 2**20:.0f} MiB at --all ({full['unique']} cells)", flush=True)
    for arch, rank_sum in full["top"]:
        print(f"  top: {arch} (rank sum {rank_sum:g})")


def darts(args, tmp):
    print(f"\n== DARTS: --sample {args.darts_sample} --proxies {FAST} --repeats 1 through ray ({args.cpus} CPUs)",
          flush=True)
    spec = {"space": "darts", "proxies": FAST, "data": args.data, "repeats": 1, "sample": args.darts_sample,
            "executor": "ray", "options": {"ray_cpus": args.cpus}, "store": f"{tmp}/darts.h5",
            "out": f"{tmp}/darts.csv", "top": 3}
    result = measure(spec)
    print(f"  {result['unique']} distinct genotypes; {describe(result)}", flush=True)
    for position, (arch, rank_sum) in enumerate(result["top"], start=1):
        print(f"  top {position} (rank sum {rank_sum:g}): {arch}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--parts", default="throughput,space,darts")
    parser.add_argument("--cpus", type=int, default=len(os.sched_getaffinity(0)),
                        help="workers of the process executor and CPUs of the local Ray instance")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each executor")
    parser.add_argument("--fast-sample", type=int, default=1000)
    parser.add_argument("--tenas-sample", type=int, default=60)
    parser.add_argument("--darts-sample", type=int, default=10000)
    parser.add_argument("--data", default="embedded")
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    print(machine_line(), flush=True)
    print(f"--data {args.data}; the process executor with --workers {args.cpus}, the ray executor on a local "
          f"instance with --ray-cpus {args.cpus}", flush=True)
    parts = {"throughput": throughput, "space": space, "darts": darts}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.parts.split(","):
            parts[name](args, tmp)


if __name__ == "__main__":
    main()
