"""The search loop: a pruning policy proposes masks, proxies measure them, the policy prunes.

The engine knows no space, proxy or policy by name; everything it runs comes
from the plan. Every candidate of a round is measured against the round's
supernet with the same weights and the same batches, repeat by repeat, so the
supernet is scored once per repeat rather than once per candidate. Jobs go to
an executor session and come back as they finish.
"""

from __future__ import annotations

import time

import numpy as np

from tenas_kit.errors import TenasRuntimeError
from tenas_kit.jobs import ScoreJob
from tenas_kit.pruner import Measurement

def measure(plan, setup, config, mask, candidates, round_index, reporter, session):
    """Every proxy's numbers for the supernet and each candidate, per repeat."""
    masks = [mask] + [c.mask for c in candidates]
    labels = ["supernet"] + [c.label for c in candidates]
    results = {}
    jobs = {}
    for p, (proxy, _, _) in enumerate(plan.proxies):
        for repeat in range(config.repeats):
            results[p, repeat] = [None] * len(masks)
            for chunk in _chunks(len(masks), CHUNK):
                job = ScoreJob(setup, p, config.seed, round_index, repeat, mask, [masks[i] for i in chunk],
                               [labels[i] for i in chunk])
                jobs[session.submit(job)] = (p, repeat, chunk)
    for job, values in session.completed(jobs):
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


def prune_round(plan, setup, config, mask, round_index, session, reporter):
    """One round: the policy's candidates for ``mask``, every proxy's measurements, the policy's decision, as
    ``(candidates, measurements, decision)``; None when the policy offers no candidate (the search is over)."""
    space, pruner = plan.space, plan.pruner
    mask.setflags(write=False)  # the round's mask is recorded and compared with the decision: a policy copies it
    candidates = pruner.candidates(space, mask, plan.pruner_settings)
    if not candidates:
        return None
    for candidate in candidates:
        candidate.mask.setflags(write=False)  # shared by the jobs that score it
    steps = sum(config.repeats * (1 + len(candidates)) for _ in plan.proxies)
    reporter.round_started(round_index, candidates, steps)
    measurements = measure(plan, setup, config, mask, candidates, round_index, reporter, session)
    decision = pruner.decide(space, mask, candidates, measurements, plan.pruner_settings)
    if np.array_equal(decision.mask, mask):
        raise TenasRuntimeError(f"pruner '{pruner.name}' removed nothing in round {round_index}; the search cannot end.")
    return candidates, measurements, decision


def search(plan, setup, config, session, reporter, run=None):
    """Run (or resume) a search; ``run`` is a runfile.RunFile that records each round. Returns
    ``(architecture text, final mask, final measurements)``; the numbers do not depend on the executor."""
    space, pruner = plan.space, plan.pruner
    mask = pruner.start(space, space.layout.full_mask(), plan.pruner_settings)
    round_index = 0
    if run is not None and run.rounds_done:
        round_index, mask = run.rounds_done, run.last_mask()
    while True:
        started = time.perf_counter()
        done = prune_round(plan, setup, config, mask, round_index, session, reporter)
        if done is None:
            break
        candidates, measurements, decision = done
        seconds = time.perf_counter() - started
        if run is not None:
            run.write_round(round_index, mask, candidates, measurements, decision, seconds)
        reporter.round_finished(round_index, candidates, decision, seconds)
        mask, round_index = decision.mask, round_index + 1
    reporter.round_started(round_index, [], config.repeats * len(plan.proxies))
    final = measure(plan, setup, config, mask, [], round_index, reporter, session)
    arch = space.format(space.mask_to_arch(mask))
    if run is not None:
        run.finish(mask, final, arch)
    return arch, mask, final
