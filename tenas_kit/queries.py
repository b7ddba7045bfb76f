"""A search that spends queries: after pruning, an oracle measures a few cells and the best answer wins.

The strategy is a pattern search over the space's edits (docs/decisions.md says why this one). The pruning's
cell is asked first; then, step by step, the cells one edit away (``SearchSpace.neighbours``) from the best
cell answered so far (the centre) are ordered and the first ``batch`` of them asked. The order has two
sources. The model's: the training-free rule's (the run's proxies, scored through the score store and the
executor as ``rank`` scores) until the answers are enough for the ranker to learn from
(``Ranker.min_labels``), then the ranker's, refitted to every answer. And the edits' (``_pattern``): an edit
changes one part of the cell (an edge's op, a coordinate); the other choices of the coordinate whose change
made the centre the best come first, then the model's favourite change of every coordinate not yet tried
from the centre, then the rest, the coordinates whose changes moved the answer most first. A better answer
moves the search to that cell; once the best cell's neighbours are all answered, the next best's are taken.
Cells isomorphic to an answered one are not asked.

Which cells are asked depends only on which were answered, not on the order answers arrived in, so a
batch on a pool of workers asks what a serial executor asks. Each answer is committed to the run file as it
comes (``RunFile.write_answer``) and a resumed search starts from the answers there: an oracle is never
asked twice about a cell.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from tenas_kit.errors import TenasError, TenasRuntimeError

STRATEGY = "pattern"  # recorded with the run: another strategy would ask other cells


@dataclass(frozen=True)
class Budget:
    """What ``run --queries N --oracle SPEC`` asked for, checked."""

    queries: int
    chosen: object  # tenas_kit.oracle.Chosen
    batch: int  # queries asked at once, each a job on the executor
    ranker: object  # tenas_kit.learned.Ranker
    options: dict = field(default_factory=dict)  # the oracle's own options (its cli_options) the user gave

    def settings(self):
        """What the run file records, and what a resumed run must match."""
        oracle = {"oracle_options": self.options} if self.options else {}
        return {"queries": self.queries, **self.chosen.describe(), **oracle, "batch": self.batch,
                "ranker": self.ranker.name, "strategy": STRATEGY}


def budget(registry, space, queries, oracle, batch=1, ranker=None, options=None):
    """The checked ``Budget`` of a search, or None when it spends no queries (today's search)."""
    from tenas_kit.oracle import choose

    if isinstance(queries, bool) or not isinstance(queries, int) or queries < 0:
        raise TenasError(f"--queries must be a whole number of cells to measure, 0 or more, not {queries!r}.")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise TenasError(f"--query-batch must be a whole number of queries asked at once, 1 or more, not {batch!r}.")
    if queries == 0:
        if oracle is not None:
            raise TenasError("--oracle is asked nothing without --queries N; give the number of cells to measure.")
        return None
    if oracle is None:
        raise TenasError(f"--queries {queries} needs --oracle NAME[:METRIC] (a benchmark table such as "
                         f"nb201:cifar10, a CSV file, or an oracle plugin), to measure the cells.")
    if getattr(space, "neighbours", None) is None:
        raise TenasError(f"space '{space.name}' offers no neighbours(arch), which a search spending queries "
                         f"explores; search it without --queries.")
    names = registry.names("ranker")
    if ranker is None and not names:
        raise TenasError("a search spending queries learns from the answers with a ranker, and no plugin "
                         "registers one (tenaskit plugins).")
    found = registry.get("ranker", ranker if ranker is not None else names[0])
    chosen = choose(registry, oracle, space)
    return Budget(queries, chosen, batch, found, _oracle_options(chosen.oracle, options or {}))


def _oracle_options(oracle, options):
    """The options given for the oracle, each one it declares and holding a value its flag would take."""
    from tenas_kit.arguments import check_option

    declared = {option.name: option for option in getattr(oracle, "cli_options", ())}
    given = {name: value for name, value in options.items() if value is not None}
    for name, value in given.items():
        if name not in declared:
            raise TenasError(f"--{name.replace('_', '-')} is not an option of oracle '{oracle.name}'; leave it out "
                             f"or choose the oracle that declares it (tenaskit plugins).")
        check_option(declared[name], value)
    return dict(sorted(given.items()))


def spend(plan, setup, config, session, run, start, plan_budget, store, reporter, plugins=()):
    """Spend the budget's queries from the pruning's cell ``start`` (text), recording each answer in ``run``
    (a ``RunFile``); returns the best cell answered (its text)."""
    space = plan.space
    answered = {arch: value for arch, value, _ in run.answers()}
    while len(answered) < plan_budget.queries:
        wanted = min(plan_budget.batch, plan_budget.queries - len(answered))
        picks = [start] if not answered else _next(plan, setup, config, session, store, answered, plan_budget,
                                                    wanted)
        if not picks:
            break  # every cell near an answered one is answered: nothing left to ask
        _ask(space, session, run, answered, picks, plan_budget, config, plugins, reporter)
    return _best(answered)


def _best(answered):
    """The best answered cell; of equal answers, the first by text, whatever order they came in."""
    return min(answered, key=lambda arch: (-answered[arch], arch))


def _next(plan, setup, config, session, store, answered, plan_budget, wanted):
    """The ``wanted`` cells to ask next: the best answered cell's unanswered neighbours, in the order the
    rule or the ranker gives them."""
    space = plan.space
    asked = {_class(space, arch) for arch in answered}
    for centre in sorted(answered, key=lambda arch: (-answered[arch], arch)):
        pool, seen = [], set(asked)
        for arch in space.neighbours(space.parse(centre)):
            key = _class(space, arch)
            if key not in seen:
                seen.add(key)
                pool.append(space.format(arch))
        if pool:
            order = _order(plan, setup, config, session, store, pool, answered, plan_budget.ranker)
            return _pattern(space, centre, answered, [pool[i] for i in order])[:wanted]
    return []


def _pattern(space, centre, answered, ranked):
    """``ranked`` (the centre's unasked neighbours, most promising first) in the order a pattern search asks
    them: first the other choices of the coordinate whose change made the centre the best answer, then the
    most promising change of each coordinate not yet tried from the centre, then the rest. A coordinate is
    the part of the cell an edit changes (the supernet's edges whose ops differ, ``arch_to_mask``)."""
    where = _coordinates(space, centre)
    effect, paid = _history(space, centre, answered, where)
    coordinate_of = {text: where(space.parse(text)) for text in ranked}
    first, once, rest, opened = [], [], [], set()
    for text in ranked:
        coordinate = coordinate_of[text]
        if coordinate == paid:
            first.append(text)
        elif coordinate not in effect and coordinate not in opened:
            opened.add(coordinate)
            once.append(text)
        else:
            rest.append(text)
    rest.sort(key=lambda text: -effect.get(coordinate_of[text], 0.0))  # stable: the ranker's order within
    return first + once + rest


def _history(space, centre, answered, where):
    """``(effect, paid)``: for each coordinate answered from the centre, the most an answer along it differs
    from the centre's; and the coordinate of the best answer given before the centre's, the move that made
    the centre the best (None from the first cell). Only cells along that move are the centre's neighbours
    and answered before it, so the order answers arrived in does not change it."""
    near = {}  # isomorphism class -> the centre's neighbour in it, whose coordinate is one edit
    for arch in space.neighbours(space.parse(centre)):
        near.setdefault(_class(space, arch), arch)
    effect, before, paid = {}, True, None
    for text in answered:  # in the order answered
        before = before and text != centre
        arch = near.get(_class(space, text))
        if arch is not None:
            coordinate, change = where(arch), abs(answered[text] - answered[centre])
            effect[coordinate] = max(effect.get(coordinate, change), change)
            if before and (paid is None or answered[text] > answered[paid[1]]):
                paid = coordinate, text
    return effect, paid[0] if paid is not None else None


def _coordinates(space, centre):
    """A function giving, for a cell, the supernet edges (mask rows) where its ops differ from ``centre``'s."""
    base = space.arch_to_mask(space.parse(centre))

    def where(arch):
        return tuple(map(tuple, np.argwhere((space.arch_to_mask(arch) != base).any(axis=-1))))

    return where


def _order(plan, setup, config, session, store, pool, answered, ranker_obj):
    """Indices of ``pool``, most promising first."""
    from tenas_kit import learned, ranker

    texts = pool + list(answered)
    ranking = ranker.rank(plan, setup, config, texts, store, session)
    labels = np.array(list(answered.values()))
    enough = len(labels) >= getattr(ranker_obj, "min_labels", learned.Ranker.min_labels) and np.ptp(labels) > 0
    if not enough:
        return np.argsort(ranking.rank_sum[:len(pool)], kind="stable")
    columns = [(p.name, ranking.scores[p.name], p.higher_is_better) for p, _, _ in plan.proxies]
    features = learned.encode(plan.space, [plan.space.parse(t) for t in texts], columns, ranking.rank_sum)
    rows = list(range(len(pool), len(texts)))
    fit = learned.learn(ranker_obj, features, rows, labels, learned.seed_of(config.seed, ranker_obj), folds=0)
    # The rule breaks the model's ties: a forest gives many cells one value.
    return np.lexsort((ranking.rank_sum[:len(pool)], -fit.predicted[:len(pool)]))


_opened = {}  # (plugins, spec, space) -> (registry, Chosen), per process: a table is read once per worker


@dataclass(frozen=True)
class OracleJob:
    """Ask the oracle ``spec`` names for the accuracy of ``arch`` (a cell of ``space``); picklable."""

    plugins: tuple
    spec: str
    space: str
    arch: str
    seed: int
    data: str = ""  # the search's --data and dataset preset, for an oracle that uses them (``uses_data``)
    dataset: str = ""
    options: tuple = ()  # (name, value) of the oracle's own options the user gave

    def __call__(self):
        from tenas_kit import plugins
        from tenas_kit.nn.switches import THREADS
        from tenas_kit.oracle import choose

        key = (self.plugins, self.spec, self.space)
        registry = plugins.registry(self.plugins)
        space = registry.get("space", self.space)
        if key not in _opened or _opened[key][0] is not registry:  # plugins reloaded: the oracle may be another
            _opened[key] = registry, choose(registry, self.spec, space)
        chosen = _opened[key][1]
        try:
            given = {}
            if getattr(chosen.oracle, "uses_data", False):
                given = {"data": self.data, "dataset": self.dataset, "options": dict(self.options)}
            # One thread, as a scoring job holds: workers side by side then share the cores instead of each
            # taking all of them, and an oracle that trains answers the same bits for any --workers.
            with THREADS.held(1):
                return chosen.oracle.measure(space, self.arch, chosen.metric, self.seed, **given)
        except TenasError as exc:
            raise TenasRuntimeError(f"oracle '{self.spec}' failed on {self.arch}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a plugin's failure, however it fails, is one line naming the cell
            raise TenasRuntimeError(f"oracle '{self.spec}' failed on {self.arch}: {type(exc).__name__}: "
                                    f"{exc}") from None


def _ask(space, session, run, answered, picks, plan_budget, config, plugins, reporter):
    """Ask the oracle about ``picks`` at once, committing each answer as it comes."""
    from tenas_kit.oracle import answer

    spec = plan_budget.chosen.spec
    started = time.perf_counter()
    options = tuple(plan_budget.options.items())
    job = partial(OracleJob, tuple(plugins), plan_budget.chosen.portable(), space.name, seed=config.seed,
                  data=_anywhere(config.data, plugins), dataset=config.dataset, options=options)
    handles = {session.submit(job(arch=arch)): arch for arch in picks}
    try:
        for handle, value in session.completed(handles):
            arch = handles[handle]
            answered[arch] = answer(spec, arch, value)
            run.write_answer(arch, answered[arch], time.perf_counter() - started)
            reporter.query_answered(len(answered), plan_budget.queries, arch, answered[arch])
    except TenasError as exc:
        kept = len(answered)
        raise TenasRuntimeError(f"{str(exc).rstrip('.')}; the search stopped with {kept} answer{'s' * (kept != 1)} "
                                f"kept in '{run.path}.partial': rerun the same command to resume once the oracle "
                                f"works.") from None


def _anywhere(data, plugins):
    """``--data`` as a worker in another directory finds it: a path that exists here, made absolute where the
    same data source reads it either way (a source's name that is also a folder here stays the name)."""
    from tenas_kit import plugins as pluginmod
    from tenas_kit.data import find_source

    if not data or not Path(data).exists():
        return data
    registry, absolute = pluginmod.registry(tuple(plugins)), str(Path(data).resolve())
    try:
        same = find_source(registry, data)[0] is find_source(registry, absolute)[0]
    except TenasError:
        return data
    return absolute if same else data


def _class(space, arch):
    """The key of ``arch``'s isomorphism class: cells of one class compute one function, so one is asked."""
    arch = space.parse(arch) if isinstance(arch, str) else arch
    key = getattr(space, "canonical", None)
    return key(arch) if key is not None else space.format(arch)
