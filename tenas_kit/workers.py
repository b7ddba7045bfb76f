"""Scoring masks in worker processes, with results independent of the worker count.

Every scorer call is a pure function of (config, proxy, round, repeat, mask):
the proxy draws its weights and data from seeds, never from call order. So a
round's masks can be split across processes and the numbers do not depend on
which process scored which mask. Every scoring process, the main one included,
runs PyTorch on one thread: intra-op threading would change summation order
(and so the last bits) with the machine's core count, and the small networks
of a search gain more from one process per core than from threads.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch

from tenas_kit import engine, plugins
from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.proxy import ProxyContext

_plans = {}  # config key -> Plan, per process
_scorers = {}  # (config key, proxy index, seed, round, repeat) -> scorer; only the latest few are kept
KEEP_SCORERS = 16


def default_workers(device):
    if torch.device(device).type == "cuda":
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _key(config):
    """What a plan depends on: everything but the seed, which each job names itself."""
    fields = {k: v for k, v in config.as_dict().items() if k != "seed"}
    return json.dumps([fields, config.device], sort_keys=True)


def remember(config, plan):
    _plans[_key(config)] = plan


def _plan(config, extra_plugins=()):
    key = _key(config)
    if key not in _plans:
        _plans[key] = engine.plan(plugins.registry(extra_plugins), config)
    return _plans[key]


def score_masks(config, proxy_index, seed, round_index, repeat, mask, masks, data_seed=None):
    """Score ``masks`` (subsets of ``mask``) with one proxy's scorer for a seed, round and
    repeat; the scorer is prepared once per process and kept while it is in use.
    ``data_seed`` draws the data when it must not follow ``seed`` (ranking)."""
    plan = _plan(config, _extra_plugins)
    key = (_key(config), proxy_index, seed, data_seed, round_index, repeat)
    if key not in _scorers:
        if len(_scorers) >= KEEP_SCORERS:
            del _scorers[next(iter(_scorers))]
        proxy, _, settings = plan.proxies[proxy_index]
        ctx = ProxyContext(plan.space, mask, plan.dataset, plan.images, plan.device, config.options,
                           seed, round_index, repeat, proxy.name, settings, data_seed)
        _scorers[key] = _guarded(proxy, "prepare", proxy.prepare, ctx)
        if not callable(_scorers[key]):
            raise _contract_error(proxy, f"prepare returned {_show(_scorers[key])}, not a scoring function")
    proxy, score = plan.proxies[proxy_index][0], _scorers[key]
    return [_as_number(proxy, _guarded(proxy, "its scorer", score, m)) for m in masks]


def _guarded(proxy, what, fn, *args):
    """Run plugin code; a failure becomes one line naming the proxy and its plugin."""
    try:
        return fn(*args)
    except TenasError:
        raise
    except Exception as exc:
        raise _contract_error(proxy, f"{what} raised {type(exc).__name__}: {exc}") from None


def _as_number(proxy, value):
    """A score is a real number; NaN and inf are allowed (ranked last), text and None are not."""
    if value is None or isinstance(value, (str, bytes, complex)):
        raise _contract_error(proxy, f"its scorer returned {_show(value)}, not a number")
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of more than one element
        raise _contract_error(proxy, f"its scorer returned {_show(value)}, not a number") from None


def _contract_error(proxy, problem):
    plugin = plugins.loader().registry.entries["proxy"].get(proxy.name)
    origin = f"plugin '{plugin.plugin}' ({plugins.loader().registry.plugins.get(plugin.plugin, '?')})" if plugin else "its plugin"
    return TenasRuntimeError(f"proxy '{proxy.name}' from {origin}: {problem}; fix or uninstall that plugin, "
                      f"or leave the proxy out of --proxies.")


def _show(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_extra_plugins = ()


def _initialise(extra_plugins, worker=False):
    global _extra_plugins
    _extra_plugins = tuple(extra_plugins)
    torch.set_num_threads(1)
    if worker:  # Ctrl-C is the main process's to handle; workers just stop with the pool
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _exit_with_parent()


def _exit_with_parent():
    """A main process killed with SIGKILL cannot stop its pool, whose workers would wait for
    jobs forever; each worker exits once it finds itself orphaned."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="tenaskit-parent-watch", daemon=True).start()


class _Deferred:
    """A job not run yet; hashable by identity so callers can key dicts on it."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args


class InlinePool:
    """Runs jobs in this process, one at a time as ``completed`` asks for them, so that a
    caller can commit results as they come (a kill then loses only the job in flight)."""

    def __init__(self, extra_plugins=()):
        self.threads = torch.get_num_threads()
        _initialise(extra_plugins)

    def submit(self, fn, *args):
        return _Deferred(fn, args)

    def completed(self, jobs):
        for job in list(jobs):
            yield job, job.fn(*job.args)

    def shutdown(self, cancel_futures=False):
        torch.set_num_threads(self.threads)
        _scorers.clear()


class ProcessPool:
    def __init__(self, workers, extra_plugins):
        context = multiprocessing.get_context("spawn")
        self.executor = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_initialise, initargs=(tuple(extra_plugins), True)
        )

    def submit(self, fn, *args):
        return self.executor.submit(fn, *args)

    def completed(self, jobs):
        for job in as_completed(jobs):
            yield job, job.result()

    def shutdown(self, cancel_futures=False):
        if not cancel_futures:
            self.executor.shutdown()
            return
        # Stopping early (Ctrl-C, an error): a running job may take many seconds and its result
        # would be thrown away, so the workers are stopped rather than waited for.
        self.executor.shutdown(wait=False, cancel_futures=True)
        terminate = getattr(self.executor, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
            return
        for process in list((getattr(self.executor, "_processes", None) or {}).values()):
            process.terminate()


def pool(workers, extra_plugins=()):
    """``submit(fn, *args) -> job``; ``completed(jobs)`` yields (job, result) as they finish."""
    if workers <= 1:
        return InlinePool(extra_plugins)
    return ProcessPool(workers, extra_plugins)
