"""Determinism and interruption, through the real console script: the same command and seed give
the same HDF5 content; Ctrl-C or a kill, then ``--resume``, give the uninterrupted result."""

import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import kill_resume  # noqa: E402  (the benchmark's commands and comparisons, used at a small scale)


def complete(kind, folder):
    folder.mkdir()
    argv, _ = kill_resume.command(kind, folder, workers=1)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """Each command's uninterrupted output folder, and (key ``seconds``) how long each took here."""
    base, result = tmp_path_factory.mktemp("whole"), {"seconds": {}}
    for kind in ("run", "rank"):
        started = time.perf_counter()
        result[kind] = complete(kind, base / kind)
        result["seconds"][kind] = time.perf_counter() - started
    return result


@pytest.mark.parametrize("kind", ["run", "rank"])
def test_same_command_and_seed_give_the_same_hdf5_content(whole, tmp_path, kind):
    again = complete(kind, tmp_path / kind)
    assert kill_resume.same_result(kind, whole[kind], again)


def test_ctrl_c_stops_fast_marks_the_run_and_resume_finishes_it_identically(whole, tmp_path):
    argv, partial = kill_resume.command("run", tmp_path, workers=1)
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not _rounds_done(partial):
        time.sleep(0.1)
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert time.perf_counter() - sent < 5
    lines = process.stderr.read().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: ") and "--resume" in lines[0], lines
    with h5py.File(partial, "r") as h5:
        assert h5.attrs["interrupted"] and h5.attrs["rounds_done"] >= 1
    resumed = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    assert kill_resume.same_result("run", whole["run"], tmp_path)


def test_killed_ranking_resumes_to_the_uninterrupted_result(whole, tmp_path):
    """The benchmark's loop at its smallest: one signal (SIGINT or SIGKILL, drawn), then resume."""
    span = (0.3 * whole["seconds"]["rank"], 0.7 * whole["seconds"]["rank"])  # kill inside the run
    stats = kill_resume.interrupted("rank", tmp_path, 1, np.random.default_rng(3), span, workers=1)
    assert stats["orphans"] == 0 and stats["codes"][-1] == 0
    # 0 too: on a quick machine the signal can land after the last score is written, and a finished
    # command has nothing left to interrupt.
    assert set(stats["codes"][:-1]) <= {0, 130, -signal.SIGKILL, -signal.SIGINT}
    assert kill_resume.same_result("rank", whole["rank"], tmp_path)


def _rounds_done(partial):
    try:  # no lock: the running command holds the file open for writing
        with h5py.File(partial, "r", locking=False) as h5:
            return int(h5.attrs.get("rounds_done", 0)) >= 1
    except (OSError, KeyError):
        return False  # not there yet, or being written
