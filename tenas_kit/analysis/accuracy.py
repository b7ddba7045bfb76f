"""What ``--benchmark`` names: a registered benchmark table (``NAME[:COLUMN]``) or a CSV file with an ``arch``
column, opened as a ``tenas_kit.benchmark.Table`` for the command's space; without it, the space's own table."""

from __future__ import annotations

from pathlib import Path

from tenas_kit.benchmark import Table
from tenas_kit.errors import TenasError
from tenas_kit.textfiles import csv_rows, number, read_text


class AccuracyTable:
    """A CSV file as a benchmark of one column: ``rows`` maps its ``arch`` texts to that column's values."""

    space = None  # a file holds the cells of whatever space the command searches

    def __init__(self, path, column=None):
        path = Path(path)
        if not path.is_file():
            raise TenasError(f"benchmark file '{path}' does not exist; give a CSV with an 'arch' column, or a "
                             f"benchmark name (tenaskit plugins lists them).")
        what = "benchmark file"
        fields, rows = csv_rows(read_text(path, what), path, what)
        if "arch" not in fields:
            raise TenasError(f"benchmark file '{path}' has no 'arch' column (columns: {', '.join(fields) or 'none'}).")
        self.column = column or next((f for f in fields if "acc" in f.lower()), None)
        if self.column not in fields:
            raise TenasError(f"benchmark file '{path}' has no accuracy column '{self.column}'; pick one of {', '.join(fields)}.")
        # Every cell is checked now, not when an architecture is looked up: a bad table is refused before a
        # search spends its time, and the message can name the line.
        self.rows = {}
        for where, row in rows:
            value = number(row.get(self.column), path, where, self.column, what)
            if value is not None and (row.get("arch") or "").strip():  # an empty cell: no accuracy recorded
                self.rows[row["arch"].strip()] = value
        self.path, self.name, self.metrics = path, str(path), (self.column,)

    def load(self):
        return {arch: {self.column: value} for arch, value in self.rows.items()}


def open_table(spec, space, registry, column=None):
    """``(Table, metrics to show)`` for ``--benchmark SPEC`` and ``--benchmark-column COLUMN`` over the cells of
    ``space``: the column named, else every metric of the table. No SPEC: the space's own table (its every
    metric), or ``(None, ())`` when no table covers the space."""
    if spec is None:
        source = space_benchmark(space, registry)
        if source is None:
            if column is not None:
                raise TenasError(f"--benchmark-column {column} needs --benchmark: no table covers space "
                                 f"'{space.name}'.")
            return None, ()
        return _chosen(Table(source, space), column)
    spec = str(spec)
    if Path(spec).is_file():
        table = Table(AccuracyTable(spec, column), space)
        return table, table.metrics
    name, colon, named = spec.partition(":")
    try:
        source = registry.get("benchmark", name)
    except TenasError as exc:
        if Path(spec).suffix or "/" in spec or "\\" in spec:
            AccuracyTable(spec)  # a path: says that the file does not exist
        raise TenasError(f"{exc} Or give a CSV file with an 'arch' column.") from None
    if colon and column is not None and named != column:
        raise TenasError(f"--benchmark {spec} and --benchmark-column {column} name two columns; give one.")
    return _chosen(Table(source, space), named or column)


def space_benchmark(space, registry):
    """The space's own table: the first registered benchmark covering it (built-ins register first)."""
    return next((b for b in registry.all("benchmark") if b.space == space.name), None)


def _chosen(table, column):
    if column is None:
        return table, table.metrics
    table.check_metric(column)
    return table, (column,)
