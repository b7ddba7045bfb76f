"""Outputs that cannot be written (issue 22): a result file is whole or not there, and a stdout that
refuses output is one line, exit 1, after the work is done.

Every result file (ranking CSV or JSON, figure, report, the ranking's marker, run files and store files)
is written by ``tenas_kit.atomicfile.write_atomically``: a failed write leaves the previous file under the
final name, never a truncated one. The console-script cases give the process a file size limit
(``ulimit -f``) or ``/dev/full`` as stdout, as a user would.
"""

import os
import resource
import stat
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from conftest import TENASKIT
from tenas_kit import atomicfile

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
FAST = ["--data", "synthetic", "--repeats", "1", "--executor", "serial"]
ENV = dict(os.environ, COLUMNS="200")


def ranking():
    from tenas_kit.ranker import Ranking

    return Ranking([BEST, BEST.replace("skip", "avg_pool_3x3").replace("_connect", "")], {"ntk": np.array([1.5, 2.5])},
                   np.array([2.0, 1.0]), 2, 2)


def write_results(path):
    from tenas_kit.lifecycle import write_results as write

    write(ranking(), path, ["ntk"])


def save_figure(path):
    from matplotlib.figure import Figure

    from tenas_kit.analysis import plots

    plots.save(Figure(figsize=(1, 1)), path)


def write_report(path):
    from tenas_kit.analysis import report

    report.write(path, "<!DOCTYPE html>\n<p>a page longer than the file size limit of the test</p>\n")


WRITERS = {"ranking.csv": write_results, "ranking.json": write_results, "figure.png": save_figure,
           "figure.svg": save_figure, "page.html": write_report}


def test_a_result_whose_write_fails_leaves_the_previous_file_whole(tmp_path):
    """Each writer, in a process whose files may not grow past 64 bytes: the error is one line and the
    previous file stays as it was (written in place, it was left cut at 64 bytes)."""
    for name in WRITERS:
        (tmp_path / name).write_bytes(b"previous\n")
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        from test_unwritable_output import WRITERS
        from tenas_kit.errors import TenasRuntimeError
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))
        for name, write in WRITERS.items():
            try:
                write(Path({str(tmp_path)!r}) / name)
                print(name, "written")
            except TenasRuntimeError as exc:
                print(name, exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    said = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert done.returncode == 0 and said.keys() == WRITERS.keys(), done.stderr[-3000:]
    for name, line in said.items():
        assert line.startswith("cannot write") and "File too large" in line, (name, line)
        assert (tmp_path / name).read_bytes() == b"previous\n", name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(WRITERS)  # no temporary file left beside them


def test_a_path_that_is_not_a_regular_file_is_written_in_place(tmp_path):
    """``--out /dev/stdout`` or a FIFO: renaming over it would replace the pipe (or device) instead of writing
    to it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader waiting, so the write does not block
    try:
        atomicfile.write_atomically(fifo, b"through the pipe\n")
        assert os.read(reader, 100) == b"through the pipe\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_link_is_followed_and_a_replaced_file_keeps_its_permissions(tmp_path):
    target, link = tmp_path / "target.csv", tmp_path / "link.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    link.symlink_to(target)
    atomicfile.write_atomically(link, b"new\n")
    assert link.is_symlink() and target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_temporary_file_of_a_dead_writer_goes_with_the_next_write(tmp_path):
    final = tmp_path / "ranking.csv"
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".ranking.csv.{atomicfile.HOST}.{dead.pid}.tmp"
    live = tmp_path / f".ranking.csv.{atomicfile.HOST}.{os.getppid()}.tmp"
    stale.write_text("half")
    live.write_text("in progress")
    atomicfile.write_atomically(final, b"whole\n")
    assert not stale.exists() and live.exists() and final.read_text() == "whole\n"


def console(*args, cwd, limit=None, stdout=subprocess.PIPE):
    """The console script; ``limit``: a file size limit in bytes, as ``ulimit -f`` sets it."""
    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([str(TENASKIT), *map(str, args)], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=600, env=ENV, cwd=cwd, preexec_fn=limited if limit else None)


def test_a_ranking_whose_results_cannot_be_written_keeps_the_previous_file_and_correlate_reads_it(tmp_path):
    """The issue's case: rerun under ``ulimit -f 1`` (every score already in the store, so only the CSV is
    written). The CSV was left cut at 1 KiB, and correlate read it with a cut number, exit 0."""
    args = ["rank", *FAST, "--proxies", "params", "--sample", "12", "--store", tmp_path / "s.h5", "--out",
            tmp_path / "ranking.csv"]
    assert console(*args, cwd=tmp_path).returncode == 0
    before = (tmp_path / "ranking.csv").read_bytes()
    assert len(before) > 1024
    done = console(*args, cwd=tmp_path, limit=1024)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "cannot write results to" in lines[0] and "File too large" in lines[0], lines[0]
    assert (tmp_path / "ranking.csv").read_bytes() == before
    assert not list(tmp_path.glob(".ranking.csv*"))
    archs = [line.split(",")[1] for line in before.decode().splitlines()[1:]]
    (tmp_path / "bench.csv").write_text("arch,acc\n" + "".join(f"{a},{90 - i}\n" for i, a in enumerate(archs)))
    done = console("correlate", tmp_path / "ranking.csv", "--benchmark", tmp_path / "bench.csv", "--resamples", 100,
                   cwd=tmp_path)
    assert done.returncode == 0 and "(12 architectures" in done.stdout, done.stderr


STDOUT_FULL = {
    "show": ["show", "{t}/run.h5"],
    "export": ["export", "{t}/run.h5"],
    "plugins": ["plugins"],
    "correlate": ["correlate", "{t}/ranking.csv", "--benchmark", "{t}/bench.csv", "--resamples", "100"],
    "version": ["--version"],
}


THREE = [BEST, "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
         "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|"]


def one_stdout_line(done, name):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, (name, done.returncode, done.stderr[-3000:])
    assert lines[0].startswith("Error: cannot write to standard output (No space left on device)"), (name, lines[0])


def test_a_run_whose_stdout_is_dev_full_does_its_work_then_says_so_in_one_line(tmp_path):
    """Its first line ("data: ...") fails to print; the search must still run and write its file. Then every
    printing command, with stdout on /dev/full: one line, exit 1, no "unexpected OSError"."""
    with open("/dev/full", "w") as full:
        done = console("run", *FAST, "--batch-size", "2", "--out", tmp_path / "run.h5", cwd=tmp_path, stdout=full)
    one_stdout_line(done, "run")
    assert not (tmp_path / "run.h5.partial").exists()
    assert console("export", tmp_path / "run.h5", cwd=tmp_path).stdout.startswith("|")  # the file is whole
    (tmp_path / "ranking.csv").write_text("rank,arch,rank_sum,ntk\n" + "".join(f"{i},{a},{i},{i}\n" for i, a in enumerate(THREE)))
    (tmp_path / "bench.csv").write_text("arch,acc\n" + "".join(f"{a},{90 - i}\n" for i, a in enumerate(THREE)))

    def printed(args):
        with open("/dev/full", "w") as full:
            return console(*(a.replace("{t}", str(tmp_path)) for a in args), cwd=tmp_path, stdout=full)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(STDOUT_FULL, pool.map(printed, STDOUT_FULL.values())))
    for name, done in results.items():
        one_stdout_line(done, name)
