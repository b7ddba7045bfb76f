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
from concurrent.futures import Future, ProcessPoolExecutor

import torch

from . import engine, plugins
from .proxy import ProxyContext

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
        _scorers[key] = proxy.prepare(ctx)
    score = _scorers[key]
    return [float(score(m)) for m in masks]


_extra_plugins = ()


def _initialise(extra_plugins, worker=False):
    global _extra_plugins
    _extra_plugins = tuple(extra_plugins)
    torch.set_num_threads(1)
    if worker:  # Ctrl-C is the main process's to handle; workers just stop with the pool
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class InlinePool:
    """Runs jobs in this process at submit time; same interface as the process pool."""

    def __init__(self, extra_plugins=()):
        self.threads = torch.get_num_threads()
        _initialise(extra_plugins)

    def submit(self, fn, *args):
        future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # surfaces in result(), as in a process pool
            future.set_exception(exc)
        return future

    def shutdown(self, cancel_futures=False):
        torch.set_num_threads(self.threads)
        _scorers.clear()


def pool(workers, extra_plugins=()):
    if workers <= 1:
        return InlinePool(extra_plugins)
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_initialise, initargs=(tuple(extra_plugins), True))
