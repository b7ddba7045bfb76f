"""Batch ranking: score many architectures, each on its own network, through the score store.

Every architecture's weights derive from the run seed and the architecture's
canonical key, and every architecture sees the same data (drawn from the run
seed), so a score does not depend on which other architectures were asked for,
on their order, or on the worker that computed it. Isomorphic cells are scored
once, on the one cell the space names for their class (``representative``),
and the store keys the score by that cell's text: whichever isomorph was asked
for first, the number under a key was computed on the cell the key names.
Proxies are combined by their weighted rank sum, as TE-NAS does.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass

import numpy as np

from tenas_kit.arguments import environment_seconds
from tenas_kit.errors import TenasError
from tenas_kit.jobs import ScoreJob
from tenas_kit.scorestore import score_key
from tenas_kit.seeds import derive

COMMIT_SECONDS = 5.0  # how much work a kill may lose, at most, unless TENASKIT_COMMIT_SECONDS says otherwise


def commit_seconds():
    """Seconds between commits: read when a ranking is planned, so that a value that is not a number stops it
    in one line naming the variable before any file is written."""
    return environment_seconds("TENASKIT_COMMIT_SECONDS", COMMIT_SECONDS)


@dataclass
class Ranking:
    archs: list  # text of every requested architecture, in request order
    scores: dict  # proxy -> array of mean scores, aligned with archs
    rank_sum: np.ndarray  # weighted rank sum, lower is better
    unique: int  # distinct cells after deduplication
    computed: int  # scores computed now (the rest came from the store)
    # Learned from labels (tenas_kit.learned): each architecture's label (NaN: none), the model's value
    # (None: too few labels, the rule ranks), and what learning said.
    labels: np.ndarray | None = None
    predicted: np.ndarray | None = None
    learned: object = None

    def order(self):
        """Best first: by the rank sum; learned from labels, by the label where there is one, else by the
        model's value, the rank sum breaking ties."""
        if self.predicted is None:
            return np.argsort(self.rank_sum, kind="stable")
        return np.lexsort((self.rank_sum, -np.where(np.isnan(self.labels), self.predicted, self.labels)))


def parse_archs(space, texts):
    archs = []
    for line, text in enumerate(texts, start=1):
        try:
            archs.append(space.parse(text))
        except TenasError as exc:
            raise TenasError(f"architecture {line}: {exc}") from None
    if not archs:
        raise TenasError("no architectures to rank; give --archs FILE, --sample N or --all.")
    return archs


def rank(plan, setup, config, texts, store, session, shard=None, reporter=None):
    """Score ``texts`` with every proxy of ``config`` through ``session`` (``shard=(i, n)``: only this
    machine's share). Scores found in ``store`` are not recomputed; new ones are committed as they come."""
    space = plan.space
    archs = parse_archs(space, texts)
    scored = [scored_cell(space, a) for a in archs]
    cell_of = [space.format(a) for a in scored]  # the text of the cell scored for each request
    first = {}  # cell text -> (the cell, the text of the first request it is scored for)
    for arch, cell, text in zip(archs, scored, cell_of):
        first.setdefault(text, (cell, space.format(arch)))
    if shard is not None:
        index, count = shard
        first = {k: c for k, c in first.items() if int(derive(0, seed_name(space, c[0]))) % count == index}
    keys = _keys(plan, setup, config, first)
    known = store.read() if store is not None else {}
    missing = [job for job, key in keys.items() if key not in known]
    if reporter is not None:
        reporter.ranking_started(len(keys), len(keys) - len(missing))
        cells = getattr(reporter, "cells_started", None)  # a reporter written before it existed lacks it
        if cells is not None:
            cells(len(first), dict(collections.Counter(cell for cell, _, _ in missing)))
    computed = _compute(plan, setup, config, first, missing, keys, store, known, session, reporter)
    return _assemble(plan, config, archs, cell_of, first, keys, known, len(first), computed)


def scored_cell(space, arch):
    """The architecture scored for ``arch``: its isomorphism class's representative, or itself."""
    pick = getattr(space, "representative", None)
    return pick(arch) if pick is not None else arch


def seed_name(space, arch):
    """What the weights of ``arch``'s networks are drawn from: its class key, so isomorphs share a seed."""
    key = getattr(space, "canonical", None)
    return key(arch) if key is not None else space.format(arch)


def _keys(plan, setup, config, first):
    keys = {}
    for key in first:
        for p, (proxy, _, settings) in enumerate(plan.proxies):
            for repeat in range(config.repeats):
                keys[key, p, repeat] = score_key(
                    space=plan.space.name, arch=key, proxy=proxy.name, settings=settings,
                    dataset=plan.dataset.name, data=setup.data, seed=config.seed, repeat=repeat,
                )
    return keys


def _compute(plan, setup, config, first, missing, keys, store, known, session, reporter):
    if not missing:
        return 0
    pending, last, every = {}, time.perf_counter(), commit_seconds()
    try:
        handles = {}
        for text, p, repeat in missing:
            cell, asked = first[text]
            mask = plan.space.arch_to_mask(cell)
            seed = derive(config.seed, plan.space.name, seed_name(plan.space, cell))
            # Error messages name the cell scored, and the cell asked for when that is another isomorph.
            label = text if text == asked else f"{text} (scored for its isomorph {asked})"
            job = ScoreJob(setup, p, seed, 0, repeat, mask, [mask], [label], config.seed)
            handles[session.submit(job)] = (text, p, repeat)
        for handle, values in session.completed(handles):
            key = keys[handles[handle]]
            known[key] = pending[key] = values[0]
            if reporter is not None:
                reporter.step(plan.proxies[handles[handle][1]][0].name, handles[handle][2], handles[handle][0])
            if store is not None and time.perf_counter() - last > every:
                store.add(pending)
                pending, last = {}, time.perf_counter()
    finally:
        if store is not None:
            store.add(pending)  # what finished is kept, also on Ctrl-C
    return len(missing)


def _assemble(plan, config, archs, cell_of, first, keys, known, unique, computed):
    wanted = [i for i, key in enumerate(cell_of) if key in first]
    texts = [plan.space.format(archs[i]) for i in wanted]
    scores = {}
    for p, (proxy, _, _) in enumerate(plan.proxies):
        scores[proxy.name] = np.array([
            np.mean([known[keys[cell_of[i], p, r]] for r in range(config.repeats)]) for i in wanted
        ])
    rank_sum = weighted_rank_sum([(scores[proxy.name], proxy.higher_is_better, weight)
                                  for proxy, weight, _ in plan.proxies], plan.combine)
    return Ranking(texts, scores, rank_sum, unique, computed)


def weighted_rank_sum(columns, rule=None):
    """Batch ranking's combination: ``columns`` is a list of (scores, higher_is_better, weight).

    Each proxy ranks the architectures 1..n (1 the best, ties share the lowest
    rank, non-finite scores after every finite one); ``rule`` (TE-NAS's weighted
    rank sum unless given, see tenas_kit.preset) turns those ranks into one
    number per architecture, lower is better.
    """
    from scipy.stats import rankdata

    from tenas_kit.preset import rank_sum

    ranks, weights = [], []
    for values, higher_is_better, weight in columns:
        values = np.asarray(values, dtype=float)
        oriented = np.where(np.isfinite(values), -values if higher_is_better else values, np.inf)
        ranks.append(rankdata(oriented, method="min"))
        weights.append(weight)
    return (rule or rank_sum)(ranks, weights)
