"""Kill `tenaskit run` and `tenaskit rank` at random moments; resuming must give the uninterrupted result.

Run from the repository root after installing (README):

    .venv/bin/python benchmarks/kill_resume.py --kills 5 --workers 2 --seed 0

For each command it first runs it once without interruption. Then it starts
the same command (same seed, fresh output) as a real subprocess, and up to
``--kills`` times sends it SIGINT (what Ctrl-C sends) or SIGKILL at a moment
drawn from a seeded generator, each time rerunning it -- with ``--resume``
once something was saved -- until it completes. Finally it compares the
results: the run file's every dataset and attribute (timestamps and timings
aside), the ranking CSV byte for byte and the score store's key -> value map.
A command that finishes before its first signal was due proves nothing about
resuming: it is started again from scratch with the signal drawn from an earlier
window (up to ``--retries`` times), and the benchmark fails if no signal lands.
Printed per command: fresh starts, kills by signal, resumes, the slowest stop after SIGINT,
exit codes seen, kills after which worker processes outlived the main one by
over 20 s (orphans), and whether the results equal.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchlib import machine_line
from tenas_kit.h5content import content, differences
from tenas_kit.scorestore import ScoreStore

TENASKIT = Path(sys.executable).with_name("tenaskit")
TINY = ["--data", "synthetic", "--repeats", "1", "--batch-size", "4", "--seed", "1"]


def command(kind, folder, workers):
    """The command line of one kind, writing into ``folder``; and the file that marks unfinished work."""
    folder = Path(folder)
    if kind == "run":
        out = folder / "run.h5"
        return [str(TENASKIT), "run", *TINY, "--out", str(out), "--workers", str(workers)], Path(f"{out}.partial")
    out = folder / "ranking.csv"
    return ([str(TENASKIT), "rank", "--sample", "20", *TINY, "--store", str(folder / "scores.h5"), "--out", str(out),
             "--workers", str(workers)], Path(f"{out}.partial"))


def same_result(kind, a, b):
    """Whether two output folders hold the same result."""
    a, b = Path(a), Path(b)
    if kind == "run":
        return not differences(content(a / "run.h5"), content(b / "run.h5"))
    if (a / "ranking.csv").read_bytes() != (b / "ranking.csv").read_bytes():
        return False
    return ScoreStore(a / "scores.h5").read() == ScoreStore(b / "scores.h5").read()


def leftovers(group, patience=20.0):
    """1 if processes of a killed command's group (orphaned workers) outlive ``patience`` seconds,
    then killed; a worker still importing PyTorch notices its parent is gone only once started."""
    deadline = time.perf_counter() + patience
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return 0
        if time.perf_counter() > deadline:
            os.killpg(group, signal.SIGKILL)
            return 1
        time.sleep(0.2)


def attempt(argv, delay, signum):
    """Run ``argv``; after ``delay`` s (None: never) send ``signum``.
    Returns (exit code, seconds from signal to stop or None if it finished first, stderr, orphans, seconds run)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, env=dict(os.environ, COLUMNS="200"))
    try:
        process.wait(timeout=delay)
        return process.returncode, None, process.stderr.read(), 0, time.perf_counter() - started
    except subprocess.TimeoutExpired:
        pass
    sent = time.perf_counter()
    process.send_signal(signum)
    code = process.wait(timeout=120)
    stop = time.perf_counter() - sent
    orphans = leftovers(process.pid)  # before reading stderr: a live orphan holds the pipe open
    return code, stop, process.stderr.read(), orphans, time.perf_counter() - started


def interrupted(kind, folder, kills, rng, span, workers):
    """Kill the command ``kills`` times at random moments in ``span`` seconds, resuming until it completes.
    Returns the statistics and, when it completed before any signal was sent, how long that took."""
    argv, marker = command(kind, folder, workers)
    stats = {"SIGINT": 0, "SIGKILL": 0, "resumes": 0, "stops": [], "codes": [], "orphans": 0}
    while True:
        resume = ["--resume"] if marker.exists() else []
        stats["resumes"] += bool(resume)
        if kills:
            signum = signal.SIGINT if rng.random() < 0.5 else signal.SIGKILL
            delay = float(rng.uniform(*span))
        else:
            signum, delay = None, None
        code, stop, err, orphans, seconds = attempt(argv + resume, delay, signum)
        stats["codes"].append(code)
        stats["orphans"] += orphans
        if stop is None:  # it finished before the signal was due
            if code != 0:
                raise SystemExit(f"{kind} failed with {code}: {err}")
            return stats, None if stats["SIGINT"] + stats["SIGKILL"] else seconds
        kills -= 1
        stats[signum.name] += 1
        if signum == signal.SIGINT:
            stats["stops"].append(stop)


def measure(kind, workdir, kills, seed, workers, retries):
    reference, cut = Path(workdir) / f"{kind}-whole", Path(workdir) / f"{kind}-cut"
    reference.mkdir(parents=True), cut.mkdir(parents=True)
    argv, _ = command(kind, reference, workers)
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    whole = time.perf_counter() - started
    # Moments from start-up (imports) to near the end of an uninterrupted run.
    span, rng = (0.5, 0.8 * whole), np.random.default_rng(seed)
    for restart in range(retries + 1):
        stats, unbroken = interrupted(kind, cut, kills, rng, span, workers)
        if unbroken is None:
            stats.update(kind=kind, seconds=whole, restarts=restart, equal=same_result(kind, reference, cut))
            return stats
        # A run that was never interrupted checks nothing, and its finished output would be reused by the next
        # attempt: start afresh, with moments before the end this attempt actually reached.
        shutil.rmtree(cut)
        cut.mkdir()
        last = span
        late = 0.8 * min(span[1], unbroken)
        span = (min(span[0], late / 2), late)
    raise SystemExit(f"{kind} finished before its first signal in {retries + 1} attempts (last window "
                     f"{last[0]:.1f}-{last[1]:.1f} s); nothing was interrupted, so nothing was checked")


def table(rows):
    print("| command | uninterrupted s | fresh starts | SIGINT | SIGKILL | resumes | slowest stop after SIGINT s | "
          "exit codes | orphans | equal |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        slowest = f"{max(r['stops']):.2f}" if r["stops"] else "-"
        print(f"| {r['kind']} | {r['seconds']:.1f} | {r['restarts']} | {r['SIGINT']} | {r['SIGKILL']} | "
              f"{r['resumes']} | {slowest} | {' '.join(map(str, r['codes']))} | {r['orphans']} | {'yes' if r['equal'] else 'NO'} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=5, help="signals sent to each command, at most")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments and signals")
    parser.add_argument("--workers", type=int, default=2, help="tenaskit --workers")
    parser.add_argument("--commands", default="run,rank")
    parser.add_argument("--retries", type=int, default=3,
                        help="fresh starts with earlier moments when a command finishes before its first signal")
    args = parser.parse_args(argv)
    if args.kills < 1:
        parser.error("--kills must be at least 1: without a signal nothing is checked")
    print(machine_line())
    print(f"--kills {args.kills}, --seed {args.seed}, --workers {args.workers}, commands {args.commands}", flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        rows = [measure(kind, workdir, args.kills, args.seed + i, args.workers, args.retries)
                for i, kind in enumerate(args.commands.split(","))]
    table(rows)
    return rows


if __name__ == "__main__":
    sys.exit(0 if all(r["equal"] for r in main()) else 1)
