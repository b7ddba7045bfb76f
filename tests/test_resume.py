"""Determinism and interruption, through the real console script: the same command and seed give
the same HDF5 content; Ctrl-C or a kill, then ``--resume``, give the uninterrupted result.

Each interruption test waits until the command has saved some of its work and is still running, so the
signal always lands mid-run: a command that finished first, or a signal that never arrived, fails the
test (exit 130 or -9 is required, never 0), and the resumed command must report what it resumed.
"""

import json
import os
import resource
import signal
import subprocess
import time

import h5py
import pytest

from conftest import TENASKIT
from tenas_kit.h5content import content, differences
from tenas_kit.scorestore import ScoreStore

TINY = ["--data", "synthetic", "--repeats", "1", "--batch-size", "4", "--seed", "1", "--workers", "1"]
ROUNDS = 3  # NB201 after 'none' is removed: 4 ops per edge, one pruned per round
# Seconds from SIGINT to exit once work is under way; docs/robustness.md states the same bound and
# what is measured here (well under 1 s). A signal during start-up, while PyTorch is imported, can
# take longer and is outside what this bound covers: the tests signal only after work was saved.
STOP_SECONDS = 5
ENV = dict(os.environ, COLUMNS="200", TENASKIT_COMMIT_SECONDS="0.2")  # rank: commit often, so a kill keeps some


def command(kind, folder):
    """The command line of one kind writing into ``folder``, and the file that marks unfinished work."""
    if kind == "run":
        out = folder / "run.h5"
        return [str(TENASKIT), "run", *TINY, "--out", str(out)], folder / "run.h5.partial"
    return ([str(TENASKIT), "rank", "--sample", "20", *TINY, "--store", str(folder / "scores.h5"),
             "--out", str(folder / "ranking.csv")], folder / "ranking.csv.partial")


def same_result(kind, a, b):
    """What differs between two output folders' results (empty: bit-for-bit the same)."""
    if kind == "run":
        return differences(content(a / "run.h5"), content(b / "run.h5"))
    found = []
    if (a / "ranking.csv").read_bytes() != (b / "ranking.csv").read_bytes():
        found.append("ranking.csv")
    if ScoreStore(a / "scores.h5").read() != ScoreStore(b / "scores.h5").read():
        found.append("scores.h5")
    return found


def complete(kind, folder):
    folder.mkdir()
    argv, _ = command(kind, folder)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """Each command's uninterrupted output folder, and (key ``scores``) how many scores the ranking stores."""
    base, result = tmp_path_factory.mktemp("whole"), {}
    for kind in ("run", "rank"):
        complete(kind, base / kind)
        result[kind] = base / kind
    result["scores"] = len(ScoreStore(base / "rank" / "scores.h5"))
    return result


@pytest.mark.parametrize("kind", ["run", "rank"])
def test_same_command_and_seed_give_the_same_hdf5_content(whole, tmp_path, kind):
    complete(kind, tmp_path / kind)
    assert same_result(kind, whole[kind], tmp_path / kind) == []


def scores_kept(store):
    try:
        return len(ScoreStore(store))
    except Exception:  # not there yet
        return 0


def start(argv, folder):
    """The command in a process group of its own (a terminal's foreground job), stderr to a file: a worker
    outliving its parent would hold a pipe open."""
    err, out = open(folder / "stderr.txt", "w"), open(folder / "stdout.txt", "w")
    process = subprocess.Popen(argv, stdout=out, stderr=err, env=ENV, start_new_session=True)
    err.close()
    out.close()
    return process


def wait_for(process, saved, what):
    """Until ``saved()`` is true while the command still runs; fails if it ended first."""
    deadline = time.monotonic() + 300
    while not saved():
        assert process.poll() is None, f"the command ended (exit {process.returncode}) before {what}: nothing to interrupt"
        assert time.monotonic() < deadline, f"no {what} after 300 s"
        time.sleep(0.05)
    assert process.poll() is None, f"the command ended right after {what}"


def group_ends(process, patience=20.0):
    """Whether every process of the command's group (its workers too) is gone within ``patience`` s."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    return False


def interrupted_line(folder):
    lines = (folder / "stderr.txt").read_text().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted: ") and "--resume" in lines[0], lines
    return lines[0]


def test_ctrl_c_stops_fast_marks_the_run_and_resume_finishes_it_identically(whole, tmp_path):
    argv, partial = command("run", tmp_path)
    process = start(argv, tmp_path)
    # The command says when a round is saved; the run file itself stays locked while it is written.
    wait_for(process, lambda: "round 1:" in (tmp_path / "stdout.txt").read_text(), "a finished round")
    sent = time.perf_counter()
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group, workers included
    assert process.wait(timeout=60) == 130
    stopped = time.perf_counter() - sent
    assert stopped < STOP_SECONDS, f"stopped {stopped:.2f} s after SIGINT"
    assert group_ends(process), "a worker outlived the interrupted command"
    line = interrupted_line(tmp_path)
    with h5py.File(partial, "r") as h5:
        assert h5.attrs["interrupted"]
        kept = int(h5.attrs["rounds_done"])
    assert 1 <= kept < ROUNDS and f"{kept} finished rounds" in line  # stopped mid-run, and says so
    assert not (tmp_path / "run.h5").exists()
    before = clocks(partial)
    resumed = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=600, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    assert not partial.exists()
    assert same_result("run", whole["run"], tmp_path) == []
    # It continued the file rather than starting over: the kept rounds' wall-clock times (which the
    # comparison above ignores, and a recomputed round would not repeat) are still those of the first attempt.
    after = clocks(tmp_path / "run.h5")
    assert len(before) == kept + 1 and len(after) == ROUNDS + 1
    assert all(after[name] == value for name, value in before.items())


def test_a_file_size_limit_mid_run_is_one_line_and_the_same_command_resumes(whole, tmp_path):
    """``ulimit -f 64``: the run file outgrows 64 KiB after its first round. HDF5 met the failed write inside
    the file (exit 139, 67 lines of h5py errors, a .partial that no longer opened); the round is now committed
    whole or not at all, so the .partial keeps the rounds before it and the same command finishes the run."""
    argv, partial = command("run", tmp_path)
    limit = 64 * 1024
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=ENV,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, (done.returncode, done.stderr[-3000:])
    assert f"cannot write the run file '{partial}': File too large" in lines[0], lines[0]
    with h5py.File(partial, "r") as h5:
        kept = int(h5.attrs["rounds_done"])
        assert list(h5["rounds"]) == [f"{i:03d}" for i in range(kept)]
    assert 1 <= kept < ROUNDS and f"its {kept} finished round" in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5.partial"]  # no temporary file left
    resumed = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=ENV)
    assert resumed.returncode == 0 and "resuming" in resumed.stdout, resumed.stderr
    assert same_result("run", whole["run"], tmp_path) == []


def clocks(path):
    """The file's creation time and each saved round's seconds."""
    with h5py.File(path, "r") as h5:
        return {"created": h5.attrs["created"], **{name: h5["rounds"][name].attrs["seconds"] for name in h5["rounds"]}}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_ranking_resumes_to_the_uninterrupted_result(whole, tmp_path, signum):
    """SIGINT to the main process (``kill -INT``): handled, exit 130; SIGKILL: nothing handled, and its
    orphaned workers must still exit. Either way the store keeps what was committed and --resume
    computes exactly the rest."""
    argv, marker = command("rank", tmp_path)
    store = tmp_path / "scores.h5"
    process = start(argv, tmp_path)
    wait_for(process, lambda: scores_kept(store) >= 1, "a committed score")
    sent = time.perf_counter()
    os.kill(process.pid, signum)
    code = process.wait(timeout=60)
    stopped = time.perf_counter() - sent
    assert group_ends(process), "a worker outlived the interrupted command"
    if signum == signal.SIGINT:
        assert code == 130 and stopped < STOP_SECONDS, (code, stopped)
        interrupted_line(tmp_path)
        assert json.loads(marker.read_text())["interrupted"] is True
    else:
        assert code == -signal.SIGKILL
        assert json.loads(marker.read_text())["interrupted"] is False  # written at the start; nobody could mark it
    assert not (tmp_path / "ranking.csv").exists()
    kept = len(ScoreStore(store))
    assert 0 < kept < whole["scores"]  # mid-run: some scores saved, some left to compute
    resumed = subprocess.run(argv + ["--resume"], capture_output=True, text=True, timeout=600, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{whole['scores'] - kept} scores computed" in resumed.stdout.replace("\n", " ")  # the rest, only
    assert not marker.exists()
    assert same_result("rank", whole["rank"], tmp_path) == []
