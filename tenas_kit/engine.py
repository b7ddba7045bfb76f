"""The search loop: a pruning policy proposes masks, proxies measure them, the policy prunes.

The engine knows no space, proxy or policy by name; everything it runs comes
from the registry. Every candidate of a round is measured against the round's
supernet with the same weights and the same batches, repeat by repeat, so the
supernet is scored once per repeat rather than once per candidate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from tenas_kit.data import open_images
from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.pruner import Measurement


@dataclass
class SearchConfig:
    space: str = "nb201"
    proxies: list = field(default_factory=lambda: [("ntk", 1.0), ("regions", 1.0)])
    pruner: str = "tenas"
    data: str = "embedded"
    dataset: str = "cifar10"
    seed: int = 0
    device: str = "auto"
    repeats: int = 3
    options: dict = field(default_factory=dict)  # batch_size, init, prune_number, ... for plugins

    def as_dict(self):
        return {
            "space": self.space, "proxies": [[n, w] for n, w in self.proxies], "pruner": self.pruner,
            "data": self.data, "dataset": self.dataset, "seed": self.seed, "repeats": self.repeats,
            "options": {k: v for k, v in sorted(self.options.items()) if v is not None},
        }


class Reporter:
    """Progress callbacks; the CLI renders them, the API ignores them by default."""

    def round_started(self, round_index, candidates, steps): ...

    def step(self, proxy, repeat, label): ...

    def round_finished(self, round_index, candidates, decision, seconds): ...


@dataclass
class Plan:
    space: object
    proxies: list  # [(proxy, weight, settings)]
    pruner: object
    pruner_settings: dict
    dataset: object
    images: object
    device: torch.device


def resolve_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TenasError("--device cuda asked for, but PyTorch sees no CUDA device; use --device cpu or auto.")
    if name not in ("cpu", "cuda"):
        raise TenasError(f"unknown device '{name}'; use auto, cpu or cuda.")
    return torch.device(name)


def plan(registry, config):
    """Look everything up and open the data before any work starts, so bad input fails fast."""
    if config.repeats < 1:
        raise TenasError(f"--repeats must be at least 1, got {config.repeats}.")
    if not config.proxies:
        raise TenasError("--proxies is empty; name at least one proxy, e.g. --proxies ntk,regions.")
    space = registry.get("space", config.space)
    pruner = registry.get("pruner", config.pruner)
    dataset = registry.get("dataset", config.dataset)
    proxies = [(registry.get("proxy", name), weight) for name, weight in config.proxies]
    device = resolve_device(config.device)
    images = open_images(registry, config.data, dataset)
    defaults = space.defaults(dataset.name)
    settings = [(p, w, p.settings(config.options, defaults)) for p, w in proxies]
    return Plan(space, settings, pruner, pruner.settings(config.options, defaults), dataset, images, device)


def measure(plan, config, mask, candidates, round_index, reporter, pool):
    """Every proxy's numbers for the supernet and each candidate, per repeat."""
    from tenas_kit.workers import score_masks

    masks = [mask] + [c.mask for c in candidates]
    labels = ["supernet"] + [c.label for c in candidates]
    results = {}
    jobs = {}
    for p, (proxy, _, _) in enumerate(plan.proxies):
        for repeat in range(config.repeats):
            results[p, repeat] = [None] * len(masks)
            for chunk in _chunks(len(masks), CHUNK):
                job = pool.submit(score_masks, config, p, config.seed, round_index, repeat, mask, [masks[i] for i in chunk])
                jobs[job] = (p, repeat, chunk)
    for job, values in pool.completed(jobs):
        p, repeat, chunk = jobs[job]
        for i, value in zip(chunk, values):
            results[p, repeat][i] = value
            reporter.step(plan.proxies[p][0].name, repeat, labels[i])
    measurements = []
    for p, (proxy, weight, _) in enumerate(plan.proxies):
        table = np.array([results[p, r] for r in range(config.repeats)], dtype=float)
        measurements.append(Measurement(proxy.name, proxy.higher_is_better, weight, table[:, 0], table[:, 1:]))
    _check_supernet(measurements, round_index)
    return measurements


def _check_supernet(measurements, round_index):
    """Changes are taken against the supernet, so a proxy whose supernet is NaN in every repeat ranks all its
    candidates last; the round still stands on the other proxies. With none left no op can be ranked."""
    if all(np.isnan(m.base).all() for m in measurements):
        names = ", ".join(f"'{m.proxy}'" for m in measurements)
        raise TenasRuntimeError(
            f"every proxy ({names}) scored the round-{round_index + 1} supernet NaN in every repeat, so no op can be "
            f"ranked; the network diverges at initialisation: try --init kaiming, other --data, or another proxy."
        )


CHUNK = 4  # masks per job: small enough to balance workers and show progress


def _chunks(count, size):
    return [list(range(start, min(start + size, count))) for start in range(0, count, size)]


def search(plan, config, run=None, reporter=None, workers=1, extra_plugins=()):
    """Run (or resume) a search; ``run`` is a store.RunFile that records each round.

    ``workers`` processes score the masks; the numbers do not depend on it.
    """
    from tenas_kit import workers as workermod

    reporter = reporter or Reporter()
    workermod.remember(config, plan)
    pool = workermod.pool(workers, extra_plugins)
    try:
        result = _search(plan, config, run, reporter, pool)
    except BaseException:
        pool.shutdown(cancel_futures=True)
        raise
    pool.shutdown()
    return result


def _search(plan, config, run, reporter, pool):
    space, pruner = plan.space, plan.pruner
    mask = pruner.start(space, space.layout.full_mask(), plan.pruner_settings)
    round_index = 0
    if run is not None and run.rounds_done:
        round_index, mask = run.rounds_done, run.last_mask()
    while True:
        candidates = pruner.candidates(space, mask, plan.pruner_settings)
        if not candidates:
            break
        steps = sum(config.repeats * (1 + len(candidates)) for _ in plan.proxies)
        reporter.round_started(round_index, candidates, steps)
        started = time.perf_counter()
        measurements = measure(plan, config, mask, candidates, round_index, reporter, pool)
        decision = pruner.decide(space, mask, candidates, measurements, plan.pruner_settings)
        if not decision.removed:
            raise TenasRuntimeError(f"pruner '{pruner.name}' removed nothing in round {round_index}; the search cannot end.")
        seconds = time.perf_counter() - started
        if run is not None:
            run.write_round(round_index, mask, candidates, measurements, decision, seconds)
        reporter.round_finished(round_index, candidates, decision, seconds)
        mask, round_index = decision.mask, round_index + 1
    reporter.round_started(round_index, [], config.repeats * len(plan.proxies))
    final = measure(plan, config, mask, [], round_index, reporter, pool)
    arch = space.format(space.mask_to_arch(mask))
    if run is not None:
        run.finish(mask, final, arch)
    return arch, mask, final
