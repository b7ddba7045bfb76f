"""Scoring jobs: the unit of work an executor runs, and how any process runs one.

A job is a pure function of (settings, proxy, seed, round, repeat, masks): the
proxy draws its weights and data from seeds, never from call order, so a job
gives the same number in whichever process or machine runs it. The payload is
small and picklable. It names its images (the ``--data`` value and their
fingerprint) instead of carrying them: the process that runs it opens them and
refuses to score if it found other images. Every scoring process runs PyTorch
on one thread: intra-op threading would change summation order (and so the
last bits) with the machine's core count.

A worker that cannot read the driver's paths (another machine) is handed the
images instead: its executor calls ``provide_images`` with what the driver
opened (``images_of``), and the plans of that fingerprint use them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from tenas_kit import plugins
from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.plan import SearchConfig, plan as make_plan

KEEP_SCORERS = 16  # prepared scorers kept per process: a round's proxies and repeats, not a whole search

_plans = {}  # setup key -> Plan, per process
_scorers = {}  # (setup key, proxy, seed, data seed, round, repeat) -> scorer; only the latest few are kept
_provided = {}  # images fingerprint -> image source an executor handed to this process


@dataclass(frozen=True)
class Setup:
    """What every job of one search or ranking shares: settings, extra plugins, and the images' fingerprint."""

    config: dict  # SearchConfig.as_dict()
    device: str
    plugins: tuple = ()
    data: str = ""  # fingerprint of the images the driver opened

    @property
    def key(self):
        return json.dumps([self.config, self.device, list(self.plugins)], sort_keys=True)


@dataclass(eq=False)  # handles are hashed by identity
class ScoreJob:
    """Score ``masks`` (subsets of ``mask``, named by ``labels``) with one proxy for a seed, round and repeat.
    ``data_seed`` draws the data when it must not follow ``seed`` (ranking: every cell sees the same images)."""

    setup: Setup
    proxy: int
    seed: int
    round: int
    repeat: int
    mask: np.ndarray
    masks: list
    labels: list
    data_seed: int | None = None

    def __call__(self):
        return run(self)


def setup_for(plan, config, extra_plugins=()):
    """The shared part of a plan's jobs; the plan is kept for jobs run in this process."""
    from tenas_kit.data import fingerprint

    setup = Setup(config.as_dict(), config.device, tuple(extra_plugins), fingerprint(plan.images))
    _plans[setup.key] = plan
    return setup


def run(job):
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    plan = _plan(job.setup)
    key = (job.setup.key, job.proxy, job.seed, job.data_seed, job.round, job.repeat)
    proxy = plan.proxies[job.proxy][0]
    if key not in _scorers:
        if len(_scorers) >= KEEP_SCORERS:
            del _scorers[next(iter(_scorers))]
        _scorers[key] = _prepare(plan, job)
    score = _scorers[key]
    return [_as_number(proxy, label, _guarded(proxy, f"its scorer, on {label},", score, m))
            for m, label in zip(job.masks, job.labels)]


def images_of(setup):
    """The images the driver opened for ``setup`` (``setup_for`` keeps its plan here), for an executor to send
    to workers that cannot open ``--data`` themselves; None in a process that did not plan it."""
    plan = _plans.get(setup.key)
    return plan.images if plan is not None else None


def provide_images(fingerprint, images):
    """In a worker: score every job whose setup names ``fingerprint`` on ``images`` (an image source with the
    same pixels as the driver's) instead of opening the ``--data`` path, which may not exist on this machine.
    Scores do not change: the jobs' seeds draw the same batches from the same images wherever they run."""
    _provided[fingerprint] = images


def forget():
    """Drop prepared scorers (they hold networks and batches) when a session ends."""
    _scorers.clear()


def _plan(setup):
    if setup.key not in _plans:
        from tenas_kit.data import fingerprint

        config = SearchConfig.from_dict(setup.config, setup.device)
        provided = _provided.get(setup.data) if setup.data else None
        plan = make_plan(plugins.registry(setup.plugins), config, open_data=provided is None)
        if provided is not None:
            plan.images = provided
        found = fingerprint(plan.images)
        if setup.data and found != setup.data:
            raise TenasRuntimeError(
                f"this worker opened other images for --data {config.data} than the driver did ({found} vs "
                f"{setup.data}); make the same data available at that path on every machine.")
        _plans[setup.key] = plan
    return _plans[setup.key]


def _prepare(plan, job):
    from tenas_kit.plan import own_options
    from tenas_kit.proxy import ProxyContext

    proxy, _, settings = plan.proxies[job.proxy]
    config = SearchConfig.from_dict(job.setup.config)
    ctx = ProxyContext(plan.space, job.mask, plan.dataset, plan.images, plan.device,
                       own_options(proxy, config.options), job.seed, job.round, job.repeat, proxy.name, settings,
                       job.data_seed)
    scorer = _guarded(proxy, "prepare", proxy.prepare, ctx)
    if not callable(scorer):
        raise _contract_error(proxy, f"prepare returned {_show(scorer)}, not a scoring function")
    return scorer


def _guarded(proxy, what, fn, *args):
    """Run plugin code; a failure becomes one line naming the proxy and its plugin."""
    try:
        return fn(*args)
    except TenasError:
        raise
    except Exception as exc:
        raise _contract_error(proxy, f"{what} raised {type(exc).__name__}: {exc}") from None


def _as_number(proxy, label, value):
    """A score is a real number; NaN and inf are allowed (ranked last), text and None are not."""
    problem = f"its scorer returned {_show(value)} on {label}, not a number"
    if value is None or isinstance(value, (str, bytes, complex)):
        raise _contract_error(proxy, problem)
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of more than one element
        raise _contract_error(proxy, problem) from None


def _contract_error(proxy, problem):
    registry = plugins.loader().registry
    entry = registry.entries["proxy"].get(proxy.name)
    origin = f"plugin '{entry.plugin}' ({registry.plugins.get(entry.plugin, '?')})" if entry else "its plugin"
    return TenasRuntimeError(f"proxy '{proxy.name}' from {origin}: {problem}; fix or uninstall that plugin, "
                             f"or leave the proxy out of --proxies.")


def _show(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
