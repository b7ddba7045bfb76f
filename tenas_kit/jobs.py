"""Scoring jobs: the unit of work an executor runs, and how any process runs one.

A job is a pure function of (settings, proxy, seed, round, repeat, masks): the
proxy draws its weights and data from seeds, never from call order, so a job
gives the same number in whichever process or machine runs it. The payload is
small and picklable. It names its images (the ``--data`` value and their
fingerprint) instead of carrying them: the process that runs it opens them and
refuses to score if it found other images. A job runs PyTorch on one thread,
and puts the thread count back when it ends.

Jobs are safe side by side, on threads of one process too: a job draws from
generators of its own, never PyTorch's global one; a prepared scorer (its
network's mask is set per call) serves one job at a time; the process-wide
settings a job needs are held as ``tenas_kit.nn.switches`` describes.

A worker that cannot read the driver's paths (another machine) is handed the
images instead: its executor calls ``provide_images`` with what the driver
opened (``images_of``), and the plans of that fingerprint use them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import numpy as np

from tenas_kit import plugins
from tenas_kit.errors import PluginFailure, TenasError, TenasRuntimeError
from tenas_kit.plan import SearchConfig, plan as make_plan

KEEP_SCORERS = 16  # keys whose prepared scorers a process keeps: a round's proxies and repeats, not a whole search

_plans = {}  # setup key -> Plan, per process
_scorers = {}  # (setup key, proxy, seed, data seed, round, repeat) -> idle scorers; only the latest few keys kept
_provided = {}  # images fingerprint -> image source an executor handed to this process
_shared = threading.Lock()  # over _plans and _scorers, for jobs running on threads side by side


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
    from tenas_kit.nn.switches import THREADS

    with THREADS.held(1):
        plan = _plan(job.setup)
        key = (job.setup.key, job.proxy, job.seed, job.data_seed, job.round, job.repeat)
        proxy = plan.proxies[job.proxy][0]
        score = _take(key)
        if score is None:
            score = _prepare(plan, job)
        values = [_as_number(proxy, label, _guarded(proxy, f"its scorer, on {label},", score, m))
                  for m, label in zip(job.masks, job.labels)]
        _put_back(key, score)
    return values


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
    with _shared:
        _scorers.clear()


def _take(key):
    """An idle scorer prepared for ``key``, now this job's alone, or None: jobs of one key that run side by
    side each need their own, since a scorer sets its network's mask."""
    with _shared:
        idle = _scorers.get(key)
        return idle.pop() if idle else None


def _put_back(key, score):
    with _shared:
        if key not in _scorers and len(_scorers) >= KEEP_SCORERS:
            del _scorers[next(iter(_scorers))]
        _scorers.setdefault(key, []).append(score)


def _plan(setup):
    with _shared:
        if setup.key not in _plans:
            _plans[setup.key] = _planned(setup)
        return _plans[setup.key]


def _planned(setup):
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
    return plan


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
        # The plugin's frames are kept, so that the --debug traceback ends in the line that raised.
        error = _contract_error(proxy, f"{what} raised {type(exc).__name__}: {exc}", PluginFailure)
        raise error.with_traceback(exc.__traceback__) from None


def _as_number(proxy, label, value):
    """A score is a real number; NaN and inf are allowed (ranked last), text and None are not."""
    problem = f"its scorer returned {_show(value)} on {label}, not a number"
    if value is None or isinstance(value, (str, bytes, complex)):
        raise _contract_error(proxy, problem)
    if hasattr(value, "detach"):
        value = value.detach()  # a tensor that requires grad: float() of it would print PyTorch's warning
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of more than one element
        raise _contract_error(proxy, problem) from None


def _contract_error(proxy, problem, error=TenasRuntimeError):
    registry = plugins.loader().registry
    entry = registry.entries["proxy"].get(proxy.name)
    origin = f"plugin '{entry.plugin}' ({registry.plugins.get(entry.plugin, '?')})" if entry else "its plugin"
    return error(f"proxy '{proxy.name}' from {origin}: {problem}; fix or uninstall that plugin, "
                 f"or leave the proxy out of --proxies.")


def _show(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
