"""Oracles: what measures a cell's accuracy when a search spends queries (``run --queries N --oracle NAME``).

An oracle comes from a plugin (``register_oracles``, contract ``Oracle``), or is a benchmark table read as
one: a registered table by its name (``nb201:cifar10``) or a CSV file by its path, through one adapter
(``TableOracle``) that knows no table by name. An oracle may be slow (it may train the cell for hours) and
may fail: each question is a job (``OracleJob``) that runs on the search's executor, names the oracle
instead of carrying it, and comes back as a number or one error line naming the cell.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tenas_kit import contract
from tenas_kit.contract import short
from tenas_kit.errors import TenasError, TenasRuntimeError, closest
from tenas_kit.textfiles import file_and_column


class Oracle(Protocol):
    """An oracle (``register_oracles``), checked when its plugin loads (``tenas_kit.contract``)."""

    name: str
    description: str
    space: str | None  # the name of the space whose cells it measures; None: any space
    metrics: tuple  # what it can measure, e.g. ("cifar10", "cifar100"); the first is the default
    # True: ``measure`` also receives, as keywords, the search's images (``data``, the text of --data;
    # ``dataset``, the preset's name) and ``options``, the values of its own ``cli_options`` the user gave
    # (``run`` shows them); an oracle that trains the cell needs all three.
    uses_data: bool = False

    def measure(self, space, arch: str, metric: str, seed: int) -> float:
        """The accuracy (higher is better) of the cell ``arch`` (the space's text of it; ``space`` is the
        SearchSpace) on ``metric``. ``seed`` is the search's: an oracle that trains draws from it. Runs in an
        executor's job, in any process, with PyTorch on one thread as a scoring job (the job holds it); it may
        take hours, and raising stops the search with every answer before it kept."""


@contract.values(Oracle)
def check(oracle):
    metrics, space = oracle.metrics, oracle.space
    if (not isinstance(metrics, (tuple, list)) or not metrics
            or not all(isinstance(m, str) and m and ":" not in m for m in metrics)):
        return f"oracle '{oracle.name}': metrics must be a non-empty tuple of names without ':', got {short(metrics)}"
    if space is not None and (not isinstance(space, str) or not space):
        return f"oracle '{oracle.name}': space must name a search space (or be None: any), got {space!r}"
    return None


class TableOracle:
    """A benchmark table as an oracle: its answer for a cell is the table's value (``Table.value``)."""

    def __init__(self, source, space):
        from tenas_kit.benchmark import Table

        self.table = Table(source, space)
        self.name, self.metrics = self.table.name, self.table.metrics
        self.space, self.description = space.name, f"benchmark table {self.name}"

    def measure(self, space, arch, metric, seed):
        return self.table.value(arch, metric)


@dataclass(frozen=True)
class Chosen:
    """An oracle and the metric it answers on, as ``--oracle`` named them."""

    oracle: object
    metric: str
    spec: str  # the text the run records and a resumed run must give again: ``NAME:METRIC`` or ``FILE:COLUMN``
    anywhere: str = ""  # the text that names it in any process, whatever its directory (a file's absolute path)

    def portable(self):
        return self.anywhere or self.spec

    def describe(self):
        return {"oracle": self.spec, "metric": self.metric, "source": self.oracle.description}


def choose(registry, spec, space):
    """The oracle ``spec`` names for cells of ``space``: ``NAME[:METRIC]`` of a registered oracle or benchmark
    table, or ``FILE.csv[:COLUMN]``."""
    if not isinstance(spec, str) or not spec.strip():
        raise TenasError("--oracle needs a name: a registered oracle or benchmark table (NAME[:METRIC]), or a "
                         "CSV file with an 'arch' column (FILE[:COLUMN]); tenaskit plugins lists them.")
    path, column = _file(spec)
    if path is not None:
        from tenas_kit.analysis.accuracy import AccuracyTable

        oracle = TableOracle(AccuracyTable(path, column), space)
        metric = oracle.metrics[0]
        # A worker on another node, or a Ray worker here, runs in another directory than the command's.
        return Chosen(oracle, metric, f"{path}:{metric}", f"{path.resolve()}:{metric}")
    name, _, metric = spec.partition(":")
    if name in registry.names("oracle"):
        oracle = registry.get("oracle", name)
        if oracle.space is not None and oracle.space != space.name:
            raise TenasError(f"oracle '{name}' measures cells of space '{oracle.space}', not '{space.name}'; "
                             f"choose an oracle of {space.name} (tenaskit plugins lists them).")
    elif name in registry.names("benchmark"):
        oracle = TableOracle(registry.get("benchmark", name), space)
    else:
        known = sorted(set(registry.names("oracle")) | set(registry.names("benchmark")))
        hint = closest(name, known)
        raise TenasError(f"unknown oracle '{name}'.{f' Did you mean {hint!r}?' if hint else ''} Known: "
                         f"{', '.join(known) or 'none registered'} (oracles and benchmark tables), or give a "
                         f"CSV file with an 'arch' column.")
    metric = metric or oracle.metrics[0]
    if metric not in oracle.metrics:
        hint = closest(metric, oracle.metrics)
        raise TenasError(f"oracle '{name}' has no metric '{metric}'.{f' Did you mean {hint!r}?' if hint else ''} "
                         f"Its metrics: {', '.join(oracle.metrics)}.")
    return Chosen(oracle, metric, f"{name}:{metric}")


def _file(spec):
    """``(path, column or None)`` when ``spec`` names an existing file, possibly with ``:COLUMN``."""
    path, column = file_and_column(spec)
    if path is not None:
        return path, column
    if Path(spec).suffix.lower() == ".csv" or "/" in spec:
        raise TenasError(f"oracle file '{spec}' does not exist; give a CSV with an 'arch' column (FILE or "
                         f"FILE:COLUMN), or a registered oracle or benchmark table.")
    return None, None


def answer(spec, arch, value):
    """The oracle's ``value`` for ``arch`` as a float, or the error that stops the search, naming the cell."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise TenasRuntimeError(f"oracle '{spec}' returned {short(value)} for {arch}, not a finite number")
    return float(value)
