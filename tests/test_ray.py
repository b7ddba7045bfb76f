"""The ray executor on a real Ray cluster: `ray start --head` on a free loopback port with this machine's
CPUs, torn down after the module. Rankings through it equal the process and serial executors bit for bit;
a worker killed mid-task, the driver killed with SIGKILL and the driver stopped with Ctrl-C all end in the
undisturbed ranking when the same command is run again; an unreachable cluster or other versions are one
line, exit 1."""

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import IN_CI, TENASKIT, call, tenaskit
from tenas_kit.runfile import read

RAY = Path(sys.executable).with_name("ray")
HAVE_RAY = importlib.util.find_spec("ray") is not None
# CI installs the extra ('.[test,ray]'), so there a missing Ray is a failure, not a skip.
needs_ray = pytest.mark.skipif(not HAVE_RAY and not IN_CI, reason="Ray is not installed: pip install '.[test,ray]'")
CPUS = len(os.sched_getaffinity(0))
# For the cluster and every driver. Ray advertises a node by the machine's network address even when told
# 127.0.0.1; the first variable keeps every address on the loopback interface, and the tests reach nothing
# else. Ray turns token authentication on by itself when it finds a token in ~/.ray (a local instance
# writes one), and then refuses drivers that do not send it; the tests decide instead of that file.
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
TASK_TITLE = "ray::tenaskit-score"  # a worker process's title while it runs one of our tasks
SMALL = ["--repeats", "1", "--batch-size", "6", "--region-samples", "64", "--seed", "1"]
ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
    "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|skip_connect~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_1x1~2|",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid):
    """PIDs of every process below ``pid`` (from /proc), so teardown and the kill test touch only ours."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def title(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


class Cluster:
    def __init__(self, process, address, home):
        self.process, self.address, self.home = process, address, home

    def running_tasks(self):
        return [pid for pid in descendants(self.process.pid) if title(pid).startswith(TASK_TITLE)]


@pytest.fixture(scope="module")
def cluster():
    if not HAVE_RAY:
        pytest.fail("Ray is not installed; CI installs it with pip install '.[test,ray]'")
    # A short root: Ray's unix sockets live under it, and their paths may not exceed about 100 characters.
    home = Path(tempfile.mkdtemp(prefix="tkray", dir="/tmp"))
    port = free_port()
    ports = []
    for flag in ("--dashboard-port", "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                 "--runtime-env-agent-port", "--metrics-export-port"):
        ports += [flag, str(free_port())]  # Ray's fixed defaults would collide with another cluster on the machine
    log = open(home / "ray.log", "w")
    process = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--port", str(port), "--node-ip-address", "127.0.0.1",
         "--num-cpus", str(CPUS), "--include-dashboard", "false", "--disable-usage-stats",
         "--temp-dir", str(home / "tmp"), *ports],
        cwd=home, env=dict(os.environ, **LOOPBACK), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in (home / "ray.log").read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start did not come up: {(home / 'ray.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield Cluster(process, f"127.0.0.1:{port}", home)
    finally:
        ours = descendants(process.pid)
        process.send_signal(signal.SIGTERM)  # --block: ray start stops the processes it started
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        for pid in ours:  # whatever outlived it (a worker mid-import), by its own PID
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The driver's directory: the architectures and an image folder that only the driver can find (a
    relative path, and the cluster's workers run elsewhere)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("driver")
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / "imgs" / label).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / "imgs" / label / f"{i}.png")
    (root / "archs.txt").write_text("\n".join(ARCHS) + "\n")
    return root


def rank_args(name, *extra):
    return ["rank", "--space", "nb201", "--proxies", "ntk,regions", "--archs", "archs.txt", "--data", "imgs",
            *SMALL, "--store", f"{name}.h5", "--out", f"{name}.csv", *extra]


def run(workdir, *args, timeout=300):
    return tenaskit(*args, cwd=workdir, env=LOOPBACK, timeout=timeout)


def start(workdir, *args, env=None):
    """A driver in its own session, so that the signals the tests send reach it alone."""
    env = dict(os.environ, COLUMNS="200", **LOOPBACK, **(env or {}))
    return subprocess.Popen([str(TENASKIT), *map(str, args)], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def reference(workdir):
    """The undisturbed ranking, from the process executor."""
    done = run(workdir, *rank_args("process", "--executor", "process", "--workers", str(CPUS)))
    assert done.returncode == 0, done.stderr
    return (workdir / "process.csv").read_text()


def wait_for_task(cluster, driver, seconds=120):
    """PIDs of worker processes running a task of ours, once there are some."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = cluster.running_tasks()
        if found:
            return found
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.05)
    pytest.fail("no Ray task of the ranking started")


def test_loading_the_plugin_imports_neither_ray_nor_torch():
    code = ("import sys; from tenas_kit import plugins; r = plugins.registry(); assert 'ray' in r.names('executor'); "
            "print(sorted(m for m in ('ray', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_without_ray_the_executor_names_the_extra_in_one_line(tmp_path, capsys, monkeypatch, registry):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as it does where Ray is not installed
    code, _, err = call(capsys, "rank", "--space", "nb201", "--archs", _archs(tmp_path), "--data", "synthetic",
                        *SMALL, "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv", "--executor", "ray")
    assert code == 2
    assert err.count("\n") == 1 and "pip install 'tenas-kit[ray]'" in err, err


def _archs(tmp_path):
    path = tmp_path / "archs.txt"
    path.write_text(ARCHS[0] + "\n")
    return path


@needs_ray
@pytest.mark.parametrize("command", ["rank", "run"])
def test_an_unreachable_cluster_is_one_line_exit_1_and_leaves_no_file(workdir, command):
    started = time.monotonic()
    unreachable = ("--executor", "ray", "--ray-address", "127.0.0.1:1")
    if command == "rank":
        done = run(workdir, *rank_args("unreachable", *unreachable))
    else:
        done = run(workdir, "run", "--space", "nb201", "--proxies", "flops", "--data", "synthetic", "--out",
                   "unreachable.h5", *unreachable)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "cannot reach the Ray cluster at 127.0.0.1:1" in done.stderr, done.stderr
    assert "\n\n" not in done.stdout and not done.stdout.startswith("\n")  # no blank line from a progress bar
    assert time.monotonic() - started < 120  # Ray alone would retry for minutes
    assert sorted(p.name for p in workdir.glob("unreachable*")) == []  # no .partial waiting to be resumed


@needs_ray
def test_rankings_through_the_cluster_and_a_local_instance_equal_process_and_serial(cluster, workdir, reference):
    through = run(workdir, *rank_args("cluster", "--executor", "ray", "--ray-address", cluster.address))
    assert through.returncode == 0, through.stderr
    assert (workdir / "cluster.csv").read_text() == reference
    assert f"{len(ARCHS) * 2} scores computed" in through.stdout
    serial = run(workdir, *rank_args("serial", "--executor", "serial"))
    assert serial.returncode == 0, serial.stderr
    assert (workdir / "serial.csv").read_text() == reference
    local = run(workdir, *rank_args("local", "--executor", "ray", "--ray-cpus", str(CPUS)))
    assert local.returncode == 0, local.stderr
    assert (workdir / "local.csv").read_text() == reference


@needs_ray
def test_the_images_reach_workers_that_cannot_read_the_drivers_path(cluster, workdir, reference):
    # The cluster's workers run in its own directory, where the relative path imgs names nothing; declared
    # shared, the workers try to open it themselves and cannot, which is what the object store spares them.
    done = run(workdir, *rank_args("shared", "--executor", "ray", "--ray-address", cluster.address,
                                   "--ray-shared-data"))
    assert done.returncode != 0 and "imgs" in done.stderr and done.stderr.count("\n") == 1, done.stderr


@needs_ray
def test_a_worker_killed_mid_task_is_retried_and_the_ranking_is_unchanged(cluster, workdir, reference):
    driver = start(workdir, *rank_args("killed", "--executor", "ray", "--ray-address", cluster.address))
    victim = wait_for_task(cluster, driver)[0]
    os.kill(victim, signal.SIGKILL)
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 0, err
    assert (workdir / "killed.csv").read_text() == reference
    assert f"{len(ARCHS) * 2} scores computed" in out  # nothing came from elsewhere: the lost task ran again


@needs_ray
def test_a_driver_killed_or_stopped_resumes_and_leaves_the_cluster_usable(cluster, workdir, reference):
    args = rank_args("stopped", "--executor", "ray", "--ray-address", cluster.address)
    env = {"TENASKIT_COMMIT_SECONDS": "0"}  # commit every score, so a kill finds some in the store
    driver = start(workdir, *args, env=env)
    _wait_for_scores(workdir / "stopped.h5", driver)
    driver.kill()
    driver.communicate()
    _wait_until_idle(cluster, "the driver was killed")  # Ray ends a dead driver's tasks
    for stop, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):  # Ctrl-C, then SIGTERM
        driver = start(workdir, *args, env=env)
        wait_for_task(cluster, driver)
        driver.send_signal(stop)
        _, err = driver.communicate(timeout=120)
        assert driver.returncode == code and "rerun the same command" in err, err
        _wait_until_idle(cluster, stop.name)  # cancelled: no task of the stopped driver goes on computing
    done = run(workdir, *args)
    assert done.returncode == 0, done.stderr
    assert (workdir / "stopped.csv").read_text() == reference
    computed = int(done.stdout.split(" scores computed")[0].rsplit(" ", 1)[1])
    assert computed < len(ARCHS) * 2  # resumed: what finished before was kept


def _wait_until_idle(cluster, after, seconds=60):
    deadline = time.monotonic() + seconds
    while cluster.running_tasks():
        assert time.monotonic() < deadline, f"tasks still running after {after}"
        time.sleep(0.2)


def _wait_for_scores(store, driver, seconds=180):
    from tenas_kit.scorestore import ScoreStore

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if store.exists() and len(ScoreStore(store, writable=False)) > 0:
                return
        except Exception:  # the driver is writing it; look again
            pass
        assert driver.poll() is None, driver.communicate()
        time.sleep(0.2)
    pytest.fail("no score reached the store")


@needs_ray
@pytest.mark.parametrize("patch, expected", [
    ("import tenas_kit; tenas_kit.__version__ = '0.0.0+elsewhere'",
     "a Ray worker runs other versions than the driver (tenas-kit 0.0.0+elsewhere on the driver"),
    ("import ray._private.utils as u, sys; u.compute_version_info = lambda: ('0.0.1', "
     "'.'.join(map(str, sys.version_info[:3])))",
     "runs another Ray or Python version than this machine (cluster Ray"),
])
def test_other_versions_on_the_driver_and_the_cluster_are_one_line_exit_1(cluster, workdir, patch, expected):
    code = f"{patch}\nfrom tenas_kit.cli import main\nmain({rank_args('versions', '--executor', 'ray', '--ray-address', cluster.address)!r})"
    done = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **LOOPBACK))
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr


@needs_ray
def test_a_search_through_the_cluster_finds_what_the_process_executor_finds(cluster, workdir):
    search = ["run", "--space", "nb201", "--proxies", "ntk,regions", "--data", "imgs", *SMALL]
    pool = run(workdir, *search, "--out", "pool.h5", "--executor", "process", "--workers", str(CPUS))
    assert pool.returncode == 0, pool.stderr
    through = run(workdir, *search, "--out", "ray.h5", "--executor", "ray", "--ray-address", cluster.address)
    assert through.returncode == 0, through.stderr
    pool, through = read(workdir / "pool.h5"), read(workdir / "ray.h5")
    assert pool["architecture"] == through["architecture"]
    assert len(pool["rounds"]) == len(through["rounds"]) > 1
    for a, b in zip(pool["rounds"], through["rounds"]):
        assert a["labels"] == b["labels"]
        for name in a["proxies"]:
            np.testing.assert_array_equal(a["proxies"][name]["base"], b["proxies"][name]["base"])
            np.testing.assert_array_equal(a["proxies"][name]["values"], b["proxies"][name]["values"])


@needs_ray
def test_a_search_with_queries_asks_the_oracle_on_the_cluster_as_the_serial_executor_does(cluster, workdir):
    # The oracle's questions are jobs on the session that scores, though not scoring jobs; two at a time,
    # so that two are in flight together.
    search = ["run", "--space", "nb201", "--proxies", "params", "--data", "imgs", "--repeats", "1", "--seed", "1",
              "--queries", "3", "--query-batch", "2", "--oracle", "nb201:cifar10"]
    serial = run(workdir, *search, "--out", "queries-serial.h5", "--executor", "serial")
    assert serial.returncode == 0, serial.stderr
    through = run(workdir, *search, "--out", "queries-ray.h5", "--executor", "ray", "--ray-address", cluster.address)
    assert through.returncode == 0, through.stderr
    serial, through = read(workdir / "queries-serial.h5"), read(workdir / "queries-ray.h5")
    assert len(serial["answers"]) == 3
    asked = [[(a["arch"], a["answer"]) for a in done["answers"]] for done in (serial, through)]
    assert asked[0] == asked[1]
    assert through["architecture"] == serial["architecture"]


@needs_ray
def test_a_csv_oracle_named_by_a_relative_path_is_found_by_the_clusters_workers(cluster, workdir):
    # The workers run in another directory than the driver; the path is the driver's, relative to its own.
    import itertools

    from tenas_kit.benchmark import Table
    from tenas_kit.plugins import registry

    found = registry()
    space = found.get("space", "nb201")
    table = Table(found.get("benchmark", "nb201"), space)
    cells = [space.format(arch) for arch in itertools.product(space.layout.ops, repeat=len(space.layout.edges))]
    (workdir / "measured.csv").write_text("arch,acc\n" + "".join(f"{c},{table.value(c, 'cifar10')}\n" for c in cells))
    search = ["run", "--space", "nb201", "--proxies", "params", "--data", "imgs", "--repeats", "1", "--seed", "1",
              "--queries", "2", "--query-batch", "2", "--out", "csv-oracle.h5", "--executor", "ray",
              "--ray-address", cluster.address]
    through = run(workdir, *search, "--oracle", "measured.csv")
    assert through.returncode == 0, through.stderr
    answers = read(workdir / "csv-oracle.h5")["answers"]
    assert [a["answer"] for a in answers] == [table.value(a["arch"], "cifar10") for a in answers]
    assert len(answers) == 2
