"""A search with a query budget: the accuracy it finds against the number of queries, and what they cost.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/query_search.py --seeds 0-4 --queries 0,5,10,20,40

For each seed, one `tenaskit run --space nb201 --preset best --queries MAX --oracle nb201:cifar10` (the API
call it makes) into a new run file and an empty score store in a temporary folder. With one query a step
(`--query-batch 1`, the default) the cells a search asks do not depend on its budget, so the first N
answers of the MAX-query run are what a run of N queries asks: its found accuracy is the best of them
(0: the pruning's cell, today's search). The table prints the found CIFAR-10 accuracy per seed and budget,
the mean +- sample stdev over seeds, and the time the queries added beyond the proxies: the query phase's
wall time less the time spent scoring candidates with the proxies (`tenas_kit.ranker.rank`), that is the
ranker's fits and predictions and the oracle's answers. `--check N` also runs a budget of N on its own for
the first seed and says whether it found what the prefix says.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import machine_line, mean_stdev, own_cpu_seconds, busy_cpu_seconds, seeds  # noqa: E402
from tenas_kit import lifecycle, ranker  # noqa: E402
from tenas_kit.runfile import read  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class Clock(lifecycle.Reporter):
    """When each answer came, and how much proxy time had been spent by then."""

    def __init__(self, proxy_seconds):
        self.proxy_seconds, self.times = proxy_seconds, []

    def query_answered(self, answered, queries, arch, value):
        self.times.append((time.perf_counter(), self.proxy_seconds[0]))


def timed_rank(proxy_seconds, original):
    def rank(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            proxy_seconds[0] += time.perf_counter() - started
    return rank


def one(seed, queries, folder, args):
    proxy_seconds = [0.0]
    clock = Clock(proxy_seconds)
    original = ranker.rank
    ranker.rank = timed_rank(proxy_seconds, original)
    try:
        result = lifecycle.search(space="nb201", preset="best", seed=seed, data=args.data, workers=args.workers,
                                  out=Path(folder) / f"seed{seed}-q{queries}.h5", store=Path(folder) / f"s{seed}-{queries}.h5",
                                  queries=queries, oracle=args.oracle, reporter=clock)
    finally:
        ranker.rank = original
    return read(result.path), clock.times


def found(answers, n):
    return max(a["answer"] for a in answers[:n])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--queries", default="0,5,10,20,40")
    parser.add_argument("--oracle", default="nb201:cifar10")
    parser.add_argument("--data", default=str(SHARED / "cifar10-jpg-mini" / "train"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--check", type=int, default=None)
    args = parser.parse_args()
    budgets = [int(q) for q in args.queries.split(",")]
    most = max(budgets)
    print(machine_line(), flush=True)
    busy, own, wall = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed in seeds(args.seeds):
            run, times = one(seed, most, folder, args)
            answers = run["answers"]
            extra = {n: (times[n - 1][0] - times[0][0]) - (times[n - 1][1] - times[0][1]) for n in budgets if n}
            rows[seed] = {n: (found(answers, n) if n else answers[0]["answer"], extra.get(n, 0.0)) for n in budgets}
            best = max(range(len(answers)), key=lambda i: answers[i]["answer"])
            print(f"seed {seed}: pruning found {run['searched']} ({answers[0]['answer']:.2f}); best answer "
                  f"{answers[best]['answer']:.2f} at query {best + 1}: {answers[best]['arch']}", flush=True)
        if args.check:
            seed = seeds(args.seeds)[0]
            run, _ = one(seed, args.check, folder, args)
            alone, prefix = found(run["answers"], args.check), rows[seed].get(args.check, (None,))[0]
            print(f"check: seed {seed}, {args.check} queries on their own found {alone:.2f}; the prefix says "
                  f"{prefix}", flush=True)
    wall = time.perf_counter() - wall
    other = (busy_cpu_seconds() - busy - (own_cpu_seconds() - own)) / wall
    print(f"\nfound {args.oracle} accuracy (time beyond the proxies, s)")
    print("| queries | " + " | ".join(f"seed {s}" for s in rows) + " | mean +- stdev |")
    print("|---" * (len(rows) + 2) + "|")
    for n in budgets:
        cells = [f"{rows[s][n][0]:.2f} ({rows[s][n][1]:.1f})" for s in rows]
        values = [rows[s][n][0] for s in rows]
        print(f"| {n} | " + " | ".join(cells) + f" | {mean_stdev(values)} |")
    mean_extra = {n: statistics.mean(rows[s][n][1] for s in rows) for n in budgets}
    print("mean time beyond the proxies: " + ", ".join(f"{n}: {t:.1f} s" for n, t in mean_extra.items()))
    print(f"wall {wall:.0f} s; other processes used {other:.2f} of the cores on average meanwhile")


if __name__ == "__main__":
    main()
