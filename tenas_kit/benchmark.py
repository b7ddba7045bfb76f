"""Benchmark tables: measured accuracies of a space's cells, looked up by cell.

A table comes from a plugin (``register_benchmarks``, contract ``Benchmark``) or from a CSV file
(``tenas_kit.analysis.accuracy``); either way ``Table`` indexes it for one space. A row is found by the
cell it describes, whatever text spelt it: first the space's text of the cell (``format(parse(text))``),
then, for a cell the table does not hold, the cells isomorphic to it (the space's ``canonical`` key).
"""

from __future__ import annotations

import math
from typing import Protocol

from tenas_kit import contract
from tenas_kit.contract import short
from tenas_kit.errors import TenasError, TenasRuntimeError, closest


class Benchmark(Protocol):
    """A benchmark table (``register_benchmarks``), checked when its plugin loads (``tenas_kit.contract``)."""

    name: str
    description: str
    space: str  # the name of the space whose cells it holds
    metrics: tuple  # its columns, e.g. ("cifar10", "cifar100"); the first is the default

    def load(self) -> dict:
        """``{architecture text: {metric: value}}``. A metric left out of a row, or NaN, was not measured.
        Called when the table is first used, not when the plugin loads."""


@contract.values(Benchmark)
def check(benchmark):
    """What a table's members must hold, checked as its plugin loads."""
    metrics, space = benchmark.metrics, benchmark.space
    if (not isinstance(metrics, (tuple, list)) or not metrics or len(set(metrics)) != len(metrics)
            or not all(isinstance(m, str) and m and ":" not in m for m in metrics)):
        return (f"benchmark '{benchmark.name}': metrics must be a non-empty tuple of distinct names without ':', "
                f"got {short(metrics)}")
    if not isinstance(space, str) or not space:
        return f"benchmark '{benchmark.name}': space must name a search space, got {space!r}"
    return None


class Table:
    """A benchmark's rows for the cells of ``space`` (a SearchSpace). ``source`` is a ``Benchmark``, or any
    object with ``name``, ``metrics`` and ``load()`` (a CSV file's ``space`` is None: it holds any space's)."""

    def __init__(self, source, space):
        self.name, self.space = source.name, space
        self.description = getattr(source, "description", "")
        self.metrics = tuple(source.metrics)
        covered = getattr(source, "space", None)
        self.registered = covered is not None  # a plugin's table, named on the command line by its name
        if covered is not None and covered != space.name:
            raise TenasError(f"benchmark '{self.name}' holds cells of space '{covered}', not '{space.name}'; "
                             f"give a table of {space.name} cells (--benchmark FILE.csv).")
        try:
            loaded = source.load()
        except TenasError:
            raise
        except Exception as exc:  # a plugin's I/O or bug: one line that names the table
            raise TenasRuntimeError(f"benchmark '{self.name}' could not be loaded: {type(exc).__name__}: "
                                    f"{exc}") from exc
        self.rows = _rows(self.name, self.metrics, loaded)
        self._index = None

    def label(self, metric):
        """How a metric is named in output: ``NAME:METRIC`` as ``--benchmark`` takes it, or a file's column."""
        return f"{self.name}:{metric}" if self.registered else metric

    def lookup(self, arch):
        """``{metric: value}`` of a cell (its text or the space's object), or None when the table lacks it.
        A cell the table lacks but holds isomorphic cells of gets their mean: they compute one function."""
        text = self._text(arch)
        if text in self.rows:
            return dict(self.rows[text])
        exact, isomorphic = self.index()
        if text in exact:
            return dict(exact[text])
        same = isomorphic.get(self._key(self.space.parse(text)))
        return _mean(same) if same else None

    def value(self, arch, metric):
        """One metric of a cell, or None when it was not measured."""
        self.check_metric(metric)
        return (self.lookup(arch) or {}).get(metric)

    def column(self, metric):
        """``{cell text: value}`` of every cell measured on ``metric``, keyed by the space's text."""
        self.check_metric(metric)
        exact, _ = self.index()
        return {text: row[metric] for text, row in exact.items() if metric in row}

    def check_metric(self, metric):
        if metric not in self.metrics:
            hint = closest(metric, self.metrics)
            suggestion = f" Did you mean '{hint}'?" if hint else ""
            raise TenasError(f"benchmark '{self.name}' has no column '{metric}'.{suggestion} "
                             f"Its columns: {', '.join(self.metrics)}.")

    def index(self):
        """``({space text: row}, {canonical key: [rows]})``, built on first need: a table whose rows are spelt
        as the space spells cells answers from ``rows`` without parsing them."""
        if self._index is None:
            exact, isomorphic = {}, {}
            for text, row in self.rows.items():
                try:
                    arch = self.space.parse(text)
                except TenasError:
                    continue  # not a cell of this space: no cell can find it
                exact[self.space.format(arch)] = row
                isomorphic.setdefault(self._key(arch), []).append(row)
            self._index = exact, isomorphic
        return self._index

    def _text(self, arch):
        return self.space.format(self.space.parse(arch) if isinstance(arch, str) else arch)

    def _key(self, arch):
        return self.space.canonical(arch) if hasattr(self.space, "canonical") else self.space.format(arch)


def _rows(name, metrics, loaded):
    """The loaded rows with float values, unmeasured metrics left out; a row of no measured metric is no row."""
    if not isinstance(loaded, dict):
        raise TenasRuntimeError(f"benchmark '{name}' breaks its contract: load() returned {type(loaded).__name__}, "
                                f"not a dict of architecture text -> {{metric: value}}.")
    rows = {}
    for text, row in loaded.items():
        if not isinstance(text, str) or not isinstance(row, dict) or not set(row) <= set(metrics):
            raise TenasRuntimeError(f"benchmark '{name}' breaks its contract: row {short(text)} -> {short(row)} is not "
                                    f"architecture text -> {{metric: value}} over its metrics {', '.join(metrics)}.")
        try:
            values = {m: float(v) for m, v in row.items() if v is not None and not math.isnan(float(v))}
        except (TypeError, ValueError):
            raise TenasRuntimeError(f"benchmark '{name}': row {short(text)} holds a value that is not a number: "
                                    f"{short(row)}.") from None
        if values:
            rows[text] = values
    return rows


def _mean(rows):
    metrics = dict.fromkeys(m for row in rows for m in row)
    return {m: sum(row[m] for row in rows if m in row) / sum(m in row for row in rows) for m in metrics}
