"""Stop signals and closed pipes, through the real console script (issue 16).

SIGTERM (what batch schedulers and ``kill`` send) must end a command as cleanly as Ctrl-C: one line on
stderr, no traceback, no warning, what finished kept and the run marked interrupted, every worker
process gone, exit 143 (130 for SIGINT), within STOP_SECONDS of the signal; the same command then
resumes to the uninterrupted result, bit for bit. Signals are sent at chosen moments: during start-up
(as soon as the command's handler exists, and while its workers are still starting), after a round of
``run`` was saved, and after a score of ``rank`` was committed. A closed stdout (``| head -1``) must not
lose results.
"""

import os
import signal
import subprocess
import time

import h5py
import pytest

from conftest import SCORER, TENASKIT
from tenas_kit.h5content import content, differences
from tenas_kit.scorestore import ScoreStore

TINY = ["--data", "synthetic", "--repeats", "1", "--batch-size", "6", "--region-samples", "64", "--seed", "3"]
STOP_SECONDS = 2.0  # from the signal to the command's exit: what docs/robustness.md promises
ENV = dict(os.environ, COLUMNS="200", TENASKIT_COMMIT_SECONDS="0.2")  # rank: commit often, so a stop keeps some
NOISE = ("Traceback", "Warning", "warn", "leaked", "Exception ignored")


def run_argv(folder, *extra):
    return [str(TENASKIT), "run", *TINY, "--out", str(folder / "run.h5"), *extra]


def rank_argv(folder, *extra):
    return [str(TENASKIT), "rank", "--sample", "12", *TINY, "--store", str(folder / "scores.h5"),
            "--out", str(folder / "ranking.csv"), *extra]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """Uninterrupted outputs: ``run`` (run.h5) and ``rank`` (ranking.csv, and the scores of scores.h5)."""
    folder = tmp_path_factory.mktemp("whole")
    for argv in (run_argv(folder, "--workers", "2"), rank_argv(folder, "--workers", "2")):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=ENV)
        assert done.returncode == 0, done.stderr
    return folder


class Command:
    """A command in a process group of its own (a terminal's foreground job), stdout and stderr to files
    (a worker outliving its parent would hold a pipe open)."""

    def __init__(self, argv, folder, env=ENV):
        self.folder = folder
        with open(folder / "stdout.txt", "w") as out, open(folder / "stderr.txt", "w") as err:
            self.process = subprocess.Popen(argv, stdout=out, stderr=err, env=env, start_new_session=True)
        self.pid = self.process.pid

    def stdout(self):
        return (self.folder / "stdout.txt").read_text()

    def stderr(self):
        return (self.folder / "stderr.txt").read_text()

    def wait_until(self, ready, what, timeout=300, poll=0.02):
        deadline = time.monotonic() + timeout
        while not ready():
            code = self.process.poll()
            assert code is None, f"the command ended (exit {code}) before {what}: nothing to interrupt\n{self.stderr()}"
            assert time.monotonic() < deadline, f"no {what} after {timeout} s"
            time.sleep(poll)
        assert self.process.poll() is None, f"the command ended right after {what}"

    def stop(self, signum, group=False):
        """Send ``signum`` (to the whole group, as a terminal's Ctrl-C or a scheduler does, or to the command
        alone, as ``kill PID`` does); returns ``(exit code, seconds from signal to exit, processes before)``."""
        before = group_processes(self.pid)
        sent = time.perf_counter()
        if group:
            os.killpg(self.pid, signum)
        else:
            os.kill(self.pid, signum)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            raise
        seconds = time.perf_counter() - sent
        print(f"{signal.Signals(signum).name}{' to the group' if group else ''}: exit {code} {seconds:.3f} s after it")
        return code, seconds, before


def group_processes(pgid):
    """{pid: command line} of the live processes of a process group (the command, its workers, multiprocessing's
    resource tracker)."""
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and alive(int(name), pgid):
            try:
                with open(f"/proc/{name}/cmdline") as handle:
                    found[int(name)] = handle.read().replace("\0", " ")
            except OSError:
                pass
    return found


def alive(pid, pgid=None):
    """Whether a process runs (a zombie has finished), in process group ``pgid`` if given."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z" and (pgid is None or int(fields[2]) == pgid)


def survivors(processes, patience=1.0):
    """Those of ``processes`` still running after the command exited (and are then killed). Workers must be
    gone at its exit, since it ends and reaps them; the resource tracker leaves when its pipe closes, so it
    gets ``patience`` seconds."""
    left = {pid: line for pid, line in processes.items() if "multiprocessing.spawn" in line and alive(pid)}
    deadline = time.monotonic() + patience
    while not left:
        running = {pid: line for pid, line in processes.items() if alive(pid)}
        if not running or time.monotonic() > deadline:
            left = running
            break
        time.sleep(0.05)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return left


def one_line(command, prefix):
    """The command's stderr is exactly one line, starting with ``prefix``, with no traceback or warning."""
    text = command.stderr()
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), text
    assert not any(word in text for word in NOISE), text
    return lines[0]


def handler_installed(pid, signum=signal.SIGTERM):
    """Whether the process catches ``signum``: Python never does for SIGTERM, so this says tenas-kit's handler is
    in place, the earliest moment at which it can answer SIGTERM with its line."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            caught = next(int(line.split()[1], 16) for line in handle if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(caught >> (signum - 1) & 1)


def workers_starting(pid):
    """Whether a worker of the command runs Python's start-up (it catches SIGINT, which an initialised worker
    ignores): a signal now would find it importing, before the pool's initializer has run."""
    return any("multiprocessing.spawn" in line and handler_installed(worker, signal.SIGINT)
               for worker, line in group_processes(pid).items())


def rounds_done(partial):
    with h5py.File(partial, "r") as h5:
        return int(h5.attrs["rounds_done"]), bool(h5.attrs["interrupted"])


def same_run(a, b):
    return differences(content(a / "run.h5"), content(b / "run.h5"))


def same_ranking(a, b):
    found = []
    if (a / "ranking.csv").read_bytes() != (b / "ranking.csv").read_bytes():
        found.append("ranking.csv")
    if ScoreStore(a / "scores.h5").read() != ScoreStore(b / "scores.h5").read():
        found.append("scores.h5")
    return found


def scores_kept(store):
    try:
        return len(ScoreStore(store))
    except Exception:  # not there yet, or being replaced
        return 0


# -- start-up ---------------------------------------------------------------------------------------------

def torch_loading(pid):
    """Whether the command has started loading PyTorch (planning: inside main, after the imports)."""
    try:
        with open(f"/proc/{pid}/maps") as handle:
            return "libtorch" in handle.read()
    except OSError:
        return False


@pytest.mark.parametrize("moment", ["imports", "planning"])
@pytest.mark.parametrize("signum, code, prefix", [(signal.SIGTERM, 143, "interrupted by SIGTERM: "),
                                                  (signal.SIGINT, 130, "interrupted: ")], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_during_start_up_is_one_line_and_its_exit_code(tmp_path, signum, code, prefix, moment):
    """Sent to the command alone, the moment it can answer (it is still importing its modules), or once it
    loads PyTorch to plan the run: nothing is left behind and nothing was finished."""
    command = Command(run_argv(tmp_path), tmp_path)
    command.wait_until(lambda: handler_installed(command.pid), "the signal handler", poll=0.001)
    if moment == "planning":
        command.wait_until(lambda: torch_loading(command.pid), "PyTorch loading", poll=0.005)
    got, seconds, before = command.stop(signum)
    assert got == code, command.stderr()
    line = one_line(command, prefix)
    if moment == "imports":
        assert "nothing was started" in line  # the handler that acts before the imports, not the one main() sets
    else:
        assert "rerun the same command" in line or "0 finished rounds" in line
    assert seconds < STOP_SECONDS, f"stopped {seconds:.2f} s after the signal"
    assert survivors(before) == {}
    assert not (tmp_path / "run.h5").exists()


@pytest.mark.parametrize("signum, code, prefix", [(signal.SIGINT, 130, "interrupted: "),
                                                  (signal.SIGTERM, 143, "interrupted by SIGTERM: ")],
                         ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_to_the_group_while_workers_start_leaves_no_worker_and_no_traceback(tmp_path, signum, code, prefix):
    """Ctrl-C reaches every process of the foreground group, workers still importing included: they must
    neither print a traceback (nor tenas-kit's start-up line: they import the console script too) nor
    outlive the command."""
    command = Command(run_argv(tmp_path, "--workers", "2"), tmp_path)
    command.wait_until(lambda: workers_starting(command.pid), "a worker process", poll=0.005)
    got, seconds, before = command.stop(signum, group=True)
    assert got == code, command.stderr()
    one_line(command, prefix)
    assert seconds < STOP_SECONDS, f"stopped {seconds:.2f} s after the signal"
    assert survivors(before) == {}, "a process outlived the stopped command"


# -- mid-run and mid-ranking ------------------------------------------------------------------------------

@pytest.mark.parametrize("signum, code, prefix, executor, group", [
    (signal.SIGTERM, 143, "interrupted by SIGTERM: ", ["--workers", "2"], True),  # a scheduler: workers get it too
    (signal.SIGTERM, 143, "interrupted by SIGTERM: ", ["--workers", "2"], False),  # kill PID: the driver ends them
    (signal.SIGINT, 130, "interrupted: ", ["--executor", "serial"], True),  # the job running in the command itself
], ids=["SIGTERM-group-pool", "SIGTERM-pool", "SIGINT-group-serial"])
def test_a_stop_signal_mid_run_keeps_the_rounds_marks_the_run_and_the_same_command_resumes(
        whole, tmp_path, signum, code, prefix, executor, group):
    argv = run_argv(tmp_path, *executor)
    command = Command(argv, tmp_path)
    command.wait_until(lambda: "round 1:" in command.stdout(), "a finished round")
    got, seconds, before = command.stop(signum, group=group)
    assert got == code, command.stderr()
    line = one_line(command, prefix)
    assert seconds < STOP_SECONDS, f"stopped {seconds:.2f} s after the signal"
    assert survivors(before) == {}, "a process outlived the stopped command"
    kept, marked = rounds_done(tmp_path / "run.h5.partial")
    assert kept >= 1 and marked and f"{kept} finished rounds kept" in line and "--resume" in line
    assert not (tmp_path / "run.h5").exists()
    resumed = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    assert not (tmp_path / "run.h5.partial").exists()
    assert same_run(whole, tmp_path) == []


@pytest.mark.parametrize("signum, code, prefix, group", [
    (signal.SIGTERM, 143, "interrupted by SIGTERM: ", False),
    (signal.SIGINT, 130, "interrupted: ", True),
], ids=["SIGTERM", "SIGINT-group"])
def test_a_stop_signal_mid_ranking_keeps_the_scores_and_the_same_command_resumes(
        whole, tmp_path, signum, code, prefix, group):
    import json

    argv = rank_argv(tmp_path, "--workers", "2")
    command = Command(argv, tmp_path)
    command.wait_until(lambda: scores_kept(tmp_path / "scores.h5") >= 1, "a committed score", poll=0.05)
    got, seconds, before = command.stop(signum, group=group)
    assert got == code, command.stderr()
    one_line(command, prefix)
    assert seconds < STOP_SECONDS, f"stopped {seconds:.2f} s after the signal"
    assert survivors(before) == {}, "a process outlived the stopped command"
    kept = scores_kept(tmp_path / "scores.h5")
    assert 0 < kept < len(ScoreStore(whole / "scores.h5"))
    assert json.loads((tmp_path / "ranking.csv.partial").read_text())["interrupted"] is True
    assert not (tmp_path / "ranking.csv").exists()
    resumed = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=ENV)
    assert resumed.returncode == 0, resumed.stderr
    assert not (tmp_path / "ranking.csv.partial").exists()
    assert same_ranking(whole, tmp_path) == []


# A proxy whose every score takes a minute, and which says in a file (named by the environment, which
# workers inherit) that one has begun.
SLOW_PROXY = SCORER.format(name="slowpoke", body="""\
            import os, time
            open(os.environ["SLOW_STARTED"], "a").close()
            time.sleep(60)
            return 1.0""")


@pytest.mark.parametrize("executor", [["--workers", "2"], ["--executor", "serial"]], ids=["pool", "serial"])
def test_a_stop_signal_does_not_wait_for_the_job_in_flight(tmp_path, executor):
    """A job may run for minutes (a big network on a CPU); its result would be thrown away, so the command
    ends it rather than waiting: in a worker (killed) or in the command itself (interrupted)."""
    plugin = tmp_path / "slow.py"
    plugin.write_text(SLOW_PROXY)
    started = tmp_path / "started"
    argv = [str(TENASKIT), "run", "--data", "synthetic", "--repeats", "1", "--proxies", "slowpoke", "--plugin", str(plugin),
            "--out", str(tmp_path / "run.h5"), *executor]
    command = Command(argv, tmp_path, env=dict(ENV, SLOW_STARTED=str(started)))
    command.wait_until(started.exists, "a job under way")
    got, seconds, before = command.stop(signal.SIGTERM)
    assert got == 143, command.stderr()
    one_line(command, "interrupted by SIGTERM: 0 finished rounds kept")
    assert seconds < STOP_SECONDS, f"stopped {seconds:.2f} s after the signal"
    assert survivors(before) == {}, "a worker outlived the stopped command"


# -- pipes ------------------------------------------------------------------------------------------------

def test_rank_piped_to_head_keeps_its_results(whole, tmp_path):
    argv = " ".join(rank_argv(tmp_path, "--workers", "2"))
    done = subprocess.run(["bash", "-c", f'{argv} 2>{tmp_path}/stderr.txt | head -1; echo "${{PIPESTATUS[0]}}"'],
                          capture_output=True, text=True, timeout=600, env=ENV)
    code = int(done.stdout.strip().splitlines()[-1])
    assert code in (0, 141), (tmp_path / "stderr.txt").read_text()
    assert (tmp_path / "stderr.txt").read_text() == ""
    assert not (tmp_path / "ranking.csv.partial").exists()
    assert same_ranking(whole, tmp_path) == []  # complete: every row, as an unpiped ranking writes it


def closed_stdout(argv, cwd):
    """Run ``argv`` with a stdout whose reader is already gone: its first write fails."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(argv, stdout=write, stderr=subprocess.PIPE, text=True, timeout=600, env=ENV, cwd=cwd)
    finally:
        os.close(write)


def test_a_run_whose_stdout_is_closed_still_finishes_its_run_file(whole, tmp_path):
    done = closed_stdout(run_argv(tmp_path, "--workers", "2"), tmp_path)
    assert done.returncode == 141 and done.stderr == "", done.stderr
    assert not (tmp_path / "run.h5.partial").exists()
    assert same_run(whole, tmp_path) == []


@pytest.mark.parametrize("args", [["show", "{w}/run.h5"], ["export", "{w}/run.h5"], ["export", "{w}/run.h5", "--format", "json"],
                                  ["plugins"], ["plugins", "--json"],
                                  ["correlate", "{w}/ranking.csv", "--benchmark", "{t}/bench.csv", "--resamples", "100"]],
                         ids=["show", "export", "export-json", "plugins", "plugins-json", "correlate"])
def test_printing_commands_with_a_closed_stdout_exit_141_quietly(whole, tmp_path, args):
    import csv

    with open(whole / "ranking.csv") as handle:
        archs = [row["arch"] for row in csv.DictReader(handle)]
    (tmp_path / "bench.csv").write_text("arch,acc\n" + "".join(f"{a},{90 - i}\n" for i, a in enumerate(archs)))
    argv = [str(TENASKIT), *(a.replace("{w}", str(whole)).replace("{t}", str(tmp_path)) for a in args)]
    done = closed_stdout(argv, tmp_path)
    assert done.returncode == 141 and done.stderr == "", (done.returncode, done.stderr)
