"""The lifecycle of a search and of a ranking: the run layer the Python API and the commands share.

A run is planned before any work starts (names looked up, data opened, the
output named), then executed on an executor. A search writes ``NAME.partial``
and renames it to ``NAME`` when finished: a finished run with the same settings
is returned as it is, never recomputed or overwritten; one with other settings
is refused; an interrupted one resumes. A ranking keeps its scores in the
score store and marks itself unfinished in ``OUT.partial`` until its results
are written. Ctrl-C or SIGTERM keeps what finished and says how to go on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tenas_kit import arguments, plugins as pluginmod, stopping
from tenas_kit.atomicfile import write_atomically
from tenas_kit.errors import Interrupted, TenasError, TenasRuntimeError
from tenas_kit.plan import SearchConfig, check_owned, plan as make_plan, settings_of

DEFAULT_STORE = Path.home() / ".cache" / "tenaskit" / "scores.h5"


class Reporter:
    """Progress callbacks; the command line renders them, the API ignores them by default."""

    def round_started(self, round_index, candidates, steps): ...

    def step(self, proxy, repeat, label): ...

    def round_finished(self, round_index, candidates, decision, seconds): ...

    def ranking_started(self, scores, cached): ...

    def cells_started(self, cells, remaining):
        """A ranking's ``cells`` distinct cells; ``remaining`` maps each cell still to score to its number of
        scores left (``step`` is called once per score, with the cell as its label)."""

    def query_answered(self, answered, queries, arch, value):
        """A search spending queries: the oracle answered ``value`` for ``arch``, ``answered`` of ``queries``."""


def configure(config=None, plugins=(), preset=None, **settings):
    """A checked SearchConfig from keyword settings, e.g. ``configure(space="nb201", seed=1, workers=2)``.

    A keyword is a SearchConfig field or, as its flag is on the command line, an option a plugin declares:
    an executor's (``workers``) goes to ``executor_options``, a proxy's or a pruner's (``batch_size``) to
    ``options``. ``preset`` applies a preset as ``--preset`` does.
    """
    from tenas_kit.plan import apply_preset, require_config

    arguments.check_plugins(plugins)
    if config is not None:
        require_config(config)
    config = replace(config) if config is not None else SearchConfig()  # the caller's config stays as it was
    fields = set(vars(config))
    for key, value in settings.items():
        if key in fields:
            setattr(config, key, os.fspath(value) if key == "data" and isinstance(value, os.PathLike) else value)
    arguments.check_config(config)
    chosen = {key: value for key, value in settings.items() if key not in fields}
    if chosen or preset is not None:  # plugins are loaded only when a keyword needs them
        registry = pluginmod.registry(plugins)
        for key, value in chosen.items():
            bucket = option_bucket(registry, key)
            if value is not None:  # None: not given, as an option left out on the command line
                setattr(config, bucket, {**getattr(config, bucket), key: value})
        if preset is not None:
            apply_preset(registry, config, preset, given=set(settings))
    return config


def option_bucket(registry, name):
    """Where the option ``name`` of some plugin is kept: an executor's apart, since it changes no result."""
    from tenas_kit.plan import declared

    if any(name in declared(obj) for obj in registry.all("executor")):
        return "executor_options"
    if any(name in declared(obj) for kind in ("proxy", "pruner") for obj in registry.all(kind)):
        return "options"
    raise TenasError(f"unknown setting '{name}': neither a field of SearchConfig ({', '.join(vars(SearchConfig()))}) "
                     f"nor an option a plugin declares (tenaskit plugins lists the plugins; their options are "
                     f"the flags of tenaskit run --help, with _ for -).")


def check_executor(registry, config):
    """The executor and its options, checked while planning: a typo must fail before any file is written."""
    executor = registry.get("executor", config.executor)
    owned = {option.name: option for option in getattr(executor, "cli_options", ())}
    for name, value in config.executor_options.items():
        if value is not None and name not in owned:
            raise TenasError(f"--{name.replace('_', '-')} is not an option of executor '{executor.name}'; "
                             f"leave it out or choose the executor that declares it (tenaskit plugins).")
        if value is not None:
            arguments.check_option(owned[name], value)
    return executor, {k: v for k, v in config.executor_options.items() if k in owned}


def open_executor(registry, config, device):
    executor, options = check_executor(registry, config)
    return executor.open(options, device)


def execute(plan, config, extra_plugins, work):
    """Run ``work(setup, session)`` on the configured executor; the session is cancelled on any early exit."""
    from tenas_kit import jobs

    setup = jobs.setup_for(plan, config, extra_plugins)
    session = open_executor(pluginmod.registry(extra_plugins), config, plan.device)
    try:
        result = work(setup, session)
    except BaseException:
        session.close(cancel=True)
        raise
    session.close()
    return result


def default_run_path(config, queries=None):
    """Named from the settings; a search spending queries (``queries``, their settings) is another run."""
    settings = config.as_dict() if queries is None else {**config.as_dict(), "queries": queries}
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    proxies = "+".join(name for name, _ in config.proxies)
    return Path("runs") / f"{config.space}-{proxies}-{config.dataset}-seed{config.seed}-{digest}.h5"


def require_something(resume, partial, *finished):
    """``--resume`` with neither an interrupted nor a finished result is a usage error."""
    if resume and not any(Path(p).is_file() for p in (partial, *finished)):
        raise TenasError(f"--resume: nothing to resume at '{partial}'; run the command without --resume to start.")


@dataclass
class SearchResult:
    architecture: str
    path: Path
    finished_before: bool  # the run file was already there: nothing was computed

    def __iter__(self):  # ``arch, path = tenas_kit.search(...)``
        return iter((self.architecture, self.path))


class Search:
    """A planned search: ``Search(config, out).run(reporter)``. ``out=None`` names the file from the settings.
    ``queries`` > 0 spends that many of ``oracle``'s measurements after pruning (``tenas_kit.queries``),
    ``query_batch`` at once, ordered by ``ranker``; the candidates' scores go to ``store``; ``oracle_options``
    are the oracle's own (its ``cli_options``, e.g. ``{"oracle_epochs": 3}``)."""

    def __init__(self, config, out=None, plugins=(), resume=False, queries=0, oracle=None, query_batch=1,
                 ranker=None, store=DEFAULT_STORE, oracle_options=None):
        from tenas_kit import queries as spending
        from tenas_kit.runfile import partial_path, read

        arguments.check_plugins(plugins)
        arguments.check_out("out", out, writable=False)  # the run file's own writes say when they fail
        arguments.flag("resume", resume)
        if not config.pruner:
            raise TenasError("a search needs a pruning policy; give --pruner, e.g. --pruner tenas.")
        self.config, self.plugins = config, tuple(plugins)
        self.plan = make_plan(pluginmod.registry(self.plugins), config)
        check_executor(pluginmod.registry(self.plugins), config)
        self.budget = spending.budget(pluginmod.registry(self.plugins), self.plan.space, queries, oracle,
                                      query_batch, ranker, oracle_options)
        self.queries = self.budget.settings() if self.budget is not None else None
        if self.budget is not None:
            arguments.path("store", store)
        self.store = store
        self.path = Path(out) if out is not None else default_run_path(config, self.queries)
        self.partial = partial_path(self.path)
        require_something(resume, self.partial, self.path)
        self.finished = read(self.path) if self.path.is_file() else None
        if self.finished is not None and (self.finished["config"] != config.as_dict()
                                          or self.finished.get("queries") != self.queries):
            raise TenasError(f"'{self.path}' holds a finished run with other settings; choose another --out.")
        self.resumable = self.finished is None and self.partial.is_file()

    def run(self, reporter=None):
        from tenas_kit import engine
        from tenas_kit.runfile import RunFile

        if self.finished is not None:
            return SearchResult(self.finished["architecture"], self.path, True)
        reporter = reporter or Reporter()
        opened = []

        def work(setup, session):
            # The run file is created once the executor is up: an executor that cannot start (an unreachable
            # cluster) leaves no file behind.
            opened.append(RunFile.open(self.path, self.config.as_dict(), settings_of(self.plan),
                                       self.plan.images.description, self.queries))
            arch, _, _ = engine.search(self.plan, setup, self.config, session, reporter, opened[0])
            if self.budget is None:
                return arch
            from tenas_kit.queries import spend
            from tenas_kit.scorestore import ScoreStore

            store = ScoreStore(self.store) if self.store is not None else None
            best = spend(self.plan, setup, self.config, session, opened[0], arch, self.budget, store, reporter,
                         self.plugins)
            opened[0].conclude(best)
            return best

        try:
            arch = execute(self.plan, self.config, self.plugins, work)
        except BaseException as exc:
            stop = stopping.interruption(exc)
            if stop is None:
                raise
            if not opened:
                raise interrupted(stop, "stopped while starting; nothing was computed.") from None
            opened[0].mark_interrupted()
            answers = f" and {len(opened[0].answers())} answers" if self.budget is not None else ""
            raise interrupted(stop, f"{opened[0].rounds_done} finished rounds{answers} kept in '{self.partial}' "
                                     f"(marked interrupted); rerun the same command with --resume to continue.") from None
        finally:
            if opened:
                opened[0].close()
        return SearchResult(arch, self.path, False)


class Ranking:
    """A planned ranking: ``Ranking(config, texts, store, out).run(reporter)`` scores, writes ``out``, returns
    the ranker's result. ``out=None`` writes no results file (the scores still go to the store). ``labels``
    (a file or ``{arch: value}``) ranks by what ``ranker`` learns from them (``tenas_kit.learned``)."""

    def __init__(self, config, texts, store=DEFAULT_STORE, out=None, shard=None, plugins=(), resume=False,
                 labels=None, ranker=None):
        from tenas_kit import labels as labelled, ranker as batch
        from tenas_kit.scorestore import ScoreStore

        arguments.check_plugins(plugins)
        arguments.path("store", store)
        arguments.check_out("out", out, writable=True)  # checked now: the results are written after the work
        arguments.check_shard(shard)
        arguments.flag("resume", resume)
        batch.commit_seconds()  # read again when committing; a value that does not parse stops the ranking now
        self.config, self.plugins, self.shard = replace(config, pruner=None), tuple(plugins), shard  # prunes nothing
        config = self.config
        self.plan = make_plan(pluginmod.registry(self.plugins), config)
        check_executor(pluginmod.registry(self.plugins), config)
        self.texts = list(texts)
        self.labels, self.ranker, self.extra = labelled.prepare(
            pluginmod.registry(self.plugins), self.plan.space, labels, ranker, self.texts, shard)
        self.store_path = Path(store) if store is not None else None
        self.store = ScoreStore(store) if store is not None else None
        self.out = Path(out) if out is not None else None
        self.marker = None
        if self.out is not None:
            settings = {**config.as_dict(), "archs": _digest(self.texts), "shard": shard, "store": str(store)}
            if self.labels is not None:
                settings["labels"] = _digest([f"{arch} {value!r}" for arch, value in sorted(self.labels.items())])
            self.marker = RankMarker(self.out, settings)
            self.marker.check(resume)

    def run(self, reporter=None):
        from tenas_kit import labels, learned, ranker

        if self.marker is not None:
            self.marker.start()
        try:
            result = execute(self.plan, self.config, self.plugins, lambda setup, session: ranker.rank(
                self.plan, setup, self.config, self.texts + self.extra, self.store, session, self.shard, reporter))
            if self.labels is not None:
                result = labels.learn_ranking(result, self.plan, self.labels, self.ranker,
                                               learned.seed_of(self.config.seed, self.ranker), len(self.texts))
        except BaseException as exc:
            stop = stopping.interruption(exc)
            if stop is None:
                if isinstance(exc, TenasError) and self.marker is not None:
                    self.marker.done()  # a failure, not an interruption: nothing is waiting to be resumed
                raise
            kept = len(self.store) if self.store is not None else 0
            if self.marker is None:
                raise interrupted(stop, f"{kept} scores kept in '{self.store_path}'.") from None
            raise interrupted(stop, self.marker.interrupted(self.store_path, kept)) from None
        if self.out is not None:
            write_results(result, self.out, [p.name for p, _, _ in self.plan.proxies])
            self.marker.done()
        return result


def interrupted(stop, message):
    """Interrupted with ``message``, exiting as the signal behind ``stop`` calls for (130 Ctrl-C, 143 SIGTERM)."""
    error = Interrupted(str(message))
    error.exit_code = stopping.exit_code(stop)
    return error


class RankMarker:
    """``OUT.partial``: the ranking's settings and whether Ctrl-C stopped it. The store itself is what
    resumes; the marker lets ``--resume`` refuse a ranking that was never started or had other settings."""

    def __init__(self, out, settings):
        self.path = Path(str(out) + ".partial")
        self.settings = settings

    def check(self, resume):
        require_something(resume, self.path)  # a finished ranking is redone from the store: only the marker counts
        if resume and self._held() != self.settings:
            raise TenasError(f"--resume: '{self.path}' marks an unfinished ranking with other settings; rerun "
                             f"it with its own settings, or leave out --resume to start this one.")

    def start(self):
        self._write(False)

    def _held(self):
        try:
            return json.loads(self.path.read_text()).get("config")
        except (OSError, ValueError, AttributeError):
            return None  # an unreadable marker holds no settings worth protecting

    def interrupted(self, store, kept):
        self._write(True)
        return Interrupted(f"{kept} scores kept in '{store}' (ranking marked interrupted in '{self.path}'); "
                           f"rerun the same command with --resume to continue.")

    def done(self):
        self.path.unlink(missing_ok=True)

    def _write(self, interrupted):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, json.dumps({"config": self.settings, "interrupted": interrupted}).encode())
        except OSError:
            pass  # the marker is a convenience; the store itself is what resumes


def read_archs(path):
    """One architecture a line, or a CSV with an ``arch`` column."""
    path = Path(path)
    if not path.is_file():
        raise TenasError(f"--archs file '{path}' does not exist; give a text file (one architecture a line) or a CSV with an 'arch' column.")
    from tenas_kit.textfiles import csv_rows, read_text

    text = read_text(path, "--archs file")
    first = text.splitlines()[0].strip() if text.strip() else ""
    if first.split(",")[0] == "arch" or ",arch" in first:
        _, rows = csv_rows(text, path, "--archs file")
        return [row["arch"].strip() for _, row in rows if (row.get("arch") or "").strip()]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def choose_archs(space, archs=None, archs_file=None, sample=None, every=False, seed=0):
    """The architectures to rank: given, read from a file, drawn (``sample``), or all of a finite space."""
    arguments.check_selection(archs, archs_file, sample, every)
    picked = sum(bool(x) for x in (archs, archs_file, sample, every))
    if picked != 1:
        raise TenasError("give exactly one of --archs FILE, --sample N or --all.")
    if archs:
        return list(archs)
    if archs_file:
        return read_archs(archs_file)
    if hasattr(space, "enumerate"):
        pool = [space.format(a) for a in space.enumerate()]
        if every:
            return pool
        if sample > len(pool):
            raise TenasError(f"--sample {sample} exceeds the {len(pool)} architectures of '{space.name}'.")
        return [pool[i] for i in np.random.default_rng(seed).choice(len(pool), sample, replace=False)]
    if every:
        raise TenasError(f"space '{space.name}' cannot list all its architectures; use --sample N.")
    if hasattr(space, "sample"):
        rng = np.random.default_rng(seed)
        return [space.format(space.sample(rng)) for _ in range(sample)]
    raise TenasError(f"space '{space.name}' cannot sample architectures; give --archs FILE.")


def _digest(texts):
    return hashlib.sha1("\n".join(texts).encode()).hexdigest()


# Columns of a results file that hold no score: what ``correlate`` and ``plot`` leave out.
NOT_SCORES = ("rank", "arch", "labelled", "label")


def write_results(ranking, path, proxies):
    path = Path(path)
    rows = []
    for position, i in enumerate(ranking.order(), start=1):
        row = {"rank": position, "arch": ranking.archs[i]}
        if ranking.labels is not None:  # learned from labels: what ranked the row, and whether it was measured
            row["predicted"] = float(ranking.predicted[i]) if ranking.predicted is not None else None
            labelled = not np.isnan(ranking.labels[i])
            row.update(labelled=int(labelled), label=float(ranking.labels[i]) if labelled else None)
        row["rank_sum"] = float(ranking.rank_sum[i])
        row.update({name: float(ranking.scores[name][i]) for name in proxies})
        rows.append(row)
    if path.suffix == ".json":
        text = json.dumps(rows, indent=1)
    else:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        text = text.getvalue()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text.encode("utf-8"))
    except OSError as exc:
        raise TenasRuntimeError(f"cannot write results to '{path}': {exc.strerror or exc}.") from None


def search(config=None, out=None, plugins=(), reporter=None, resume=False, queries=0, oracle=None, query_batch=1,
           ranker=None, store=DEFAULT_STORE, oracle_options=None, **overrides):
    """Run a TE-NAS search (or finish an interrupted one) and return a SearchResult; ``queries`` > 0 then
    spends that many measurements of ``oracle`` (e.g. ``"nb201:cifar10"``, or ``"train"`` with
    ``oracle_options={"oracle_epochs": 12}``) on the cells near its result."""
    return Search(configure(config, plugins, **overrides), out, plugins, resume, queries, oracle, query_batch,
                  ranker, store, oracle_options).run(reporter)


def rank(config=None, archs=None, archs_file=None, sample=None, every=False, store=DEFAULT_STORE, out=None,
         shard=None, plugins=(), reporter=None, resume=False, labels=None, ranker=None, **overrides):
    """Score and rank architectures (given, from a file, ``sample`` drawn with the seed, or ``every`` one);
    with ``labels``, by what ``ranker`` learns from them."""
    config = configure(config, plugins, **overrides)
    registry = pluginmod.registry(plugins)
    texts = choose_archs(registry.get("space", config.space), archs, archs_file, sample, every, config.seed)
    return Ranking(config, texts, store, out, shard, plugins, resume, labels, ranker).run(reporter)
