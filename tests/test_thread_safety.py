"""Jobs are safe side by side: an executor that runs them on a thread pool scores exactly what ``serial`` does.

The executor below is written as docs/plugins.md describes one, registered in this process as a plugin is.
"""

import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
import pytest
import torch

import tenas_kit
from conftest import plugin_offering
from tenas_kit import SearchConfig, engine, jobs, lifecycle, plugins
from tenas_kit.h5content import content, differences
from tenas_kit.plan import plan as make_plan

THREADS = 4
SMALL = {"batch_size": 6, "region_samples": 64, "proxy_batch_size": 4}
CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
]


class ThreadSession:
    def __init__(self, threads):
        self.pool = ThreadPoolExecutor(threads)

    def submit(self, job):
        return self.pool.submit(job)

    def completed(self, handles):
        for future in as_completed(handles):
            yield future, future.result()

    def close(self, cancel=False):
        self.pool.shutdown(cancel_futures=cancel)


class ThreadExecutor:
    name = "threads"
    description = "jobs on a pool of threads in this process (test)"

    def open(self, options, device):
        return ThreadSession(THREADS)


@pytest.fixture
def threads(register_plugin):
    """The thread executor, with the interpreter switching threads often so that jobs interleave finely."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield register_plugin(plugin_offering(register_executors=[ThreadExecutor()]), "threads")
    sys.setswitchinterval(interval)


def every_proxy():
    return [(name, 1.0) for name in sorted(plugins.registry().names("proxy"))]


def config(**changes):
    return SearchConfig(**{"data": "synthetic", "repeats": 1, "seed": 5, "proxies": every_proxy(),
                           "options": dict(SMALL), **changes})


def differing(a, b):
    """The proxies whose numbers differ, bit for bit (NaN equals NaN)."""
    assert a.keys() == b.keys()
    return [k for k in a if not np.array_equal(a[k], b[k], equal_nan=True)]


def ranked(folder, executor, cfg, **which):
    """Every score computed here (a fresh store), none read from an earlier run."""
    jobs.forget()
    ranking = tenas_kit.rank(cfg, store=folder / f"{executor}.h5", executor=executor, **which)
    assert ranking.computed == len(ranking.archs) * len(cfg.proxies) * cfg.repeats
    return ranking.scores


def test_a_thread_pool_ranks_like_serial_with_every_proxy(threads, tmp_path):
    drawn = torch.random.get_rng_state()
    assert not differing(ranked(tmp_path, "serial", config(), archs=CELLS),
                         ranked(tmp_path, "threads", config(), archs=CELLS))
    assert torch.equal(torch.random.get_rng_state(), drawn)  # no job draws from PyTorch's global generator


def test_a_thread_pool_ranks_darts_like_serial_and_leaves_onednn_as_it_was(threads, tmp_path):
    # DARTS's networks turn oneDNN off while they run (nn.layers.cpu_kernels), a process-wide switch.
    onednn = torch._C._get_mkldnn_enabled()
    darts = config(space="darts", proxies=[("ntk", 1.0)], repeats=2, options={"batch_size": 6})
    assert not differing(ranked(tmp_path, "serial", darts, sample=4), ranked(tmp_path, "threads", darts, sample=4))
    assert torch._C._get_mkldnn_enabled() == onednn


def test_a_thread_pool_measures_a_search_round_like_serial_with_every_proxy(threads, monkeypatch):
    # One mask per job, as many masks as threads: the jobs of one proxy and repeat share a key and run side by side.
    monkeypatch.setattr(engine, "CHUNK", 1)
    measured = {}
    for executor in ("serial", "threads"):
        jobs.forget()
        cfg = config(executor=executor, options={**SMALL, "proxy_network": "supernet"})  # the round's own network
        plan = make_plan(plugins.registry(), cfg)
        mask = plan.pruner.start(plan.space, plan.space.layout.full_mask(), plan.pruner_settings)
        candidates = plan.pruner.candidates(plan.space, mask, plan.pruner_settings)[:THREADS - 1]
        measurements = lifecycle.execute(plan, cfg, (), lambda setup, session: engine.measure(
            plan, setup, cfg, mask, candidates, 0, lifecycle.Reporter(), session))
        measured[executor] = {m.proxy: np.column_stack([m.base, m.values]) for m in measurements}
    assert not differing(measured["serial"], measured["threads"])


def test_a_thread_pool_searches_like_serial(threads, tmp_path):
    files = {}
    for executor in ("serial", "threads"):
        jobs.forget()
        cfg = SearchConfig(data="synthetic", repeats=1, seed=5, options={"batch_size": 6, "region_samples": 64})
        files[executor] = content(tenas_kit.search(cfg, out=tmp_path / f"{executor}.h5", executor=executor).path)
    assert not differences(files["serial"], files["threads"])


def test_a_job_leaves_the_threads_of_its_caller_as_they_were():
    cfg = SearchConfig(data="synthetic", repeats=1, proxies=[("synflow", 1.0)], pruner=None)
    plan = make_plan(plugins.registry(), cfg)
    setup = jobs.setup_for(plan, cfg)
    mask = plan.space.layout.full_mask()
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        jobs.ScoreJob(setup, 0, 5, 0, 0, mask, [mask], ["supernet"])()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def switch_over(setting):
    from tenas_kit.nn.switches import Switch

    return Switch(lambda: setting["value"], lambda v: setting.update(value=v))


def test_a_switch_is_set_by_its_first_holder_and_put_back_by_its_last():
    setting = {"value": 8}
    switch = switch_over(setting)
    entered, leave = threading.Event(), threading.Event()

    def hold(value):
        with switch.held(value):
            entered.set()
            leave.wait()
            seen.append(setting["value"])

    seen = []
    first = threading.Thread(target=hold, args=(1,))
    first.start()
    entered.wait()
    with switch.held(1):
        assert setting["value"] == 1
    assert setting["value"] == 1  # the first holder still runs: not put back under it
    other = threading.Thread(target=hold, args=(2,))
    other.start()
    other.join(0.2)  # time to reach the switch, and wait there
    leave.set()
    first.join()
    other.join()
    assert seen == [1, 2]  # the holder of another value waited for the first to let go
    assert setting["value"] == 8


def test_a_thread_holding_a_switch_cannot_wait_for_its_other_value():
    switch, raised = switch_over({"value": 8}), []

    def nested():
        with switch.held(1):
            with pytest.raises(RuntimeError, match="holds the switch at 1; it cannot wait for 2"):
                with switch.held(2):
                    pass
            raised.append(True)

    thread = threading.Thread(target=nested, daemon=True)
    thread.start()
    thread.join(5)
    assert raised  # an error, not a thread waiting for itself forever


def test_counting_flops_in_one_thread_leaves_the_modules_of_others_alone():
    # PyTorch's FLOP counter tracks modules with hooks on every module of the process; the flops proxy counts
    # without them, so another thread's backward pass runs as it would alone.
    from tenaskit_builtins.flops import multiply_adds

    counting, done = threading.Event(), threading.Event()

    class Waits(torch.nn.Module):
        def forward(self, x):
            counting.set()
            done.wait()
            return x

    thread = threading.Thread(target=multiply_adds, args=(Waits(), torch.zeros(1)))
    thread.start()
    counting.wait()
    try:
        x = torch.ones(2, 3, requires_grad=True)
        (grad,) = torch.autograd.grad(torch.nn.Linear(3, 1)(x).sum(), x)
    finally:
        done.set()
        thread.join()
    assert grad.shape == x.shape
