"""Labels: measured values of some cells (an accuracy, higher is better) that a ranking learns from.

``rank --labels FILE[:COLUMN]`` reads a CSV with an ``arch`` column and one numeric column (or the column
named); the API takes the same text or a mapping ``{architecture: value}``. Every cell must be a cell of
the space and every value a finite number; a cell given twice with two values is refused, since one of
them is wrong. Isomorphic cells are different cells with one function: each keeps its own label, and the
model sees their mean (``by_class``), as a benchmark table answers for a cell it lacks.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path

from tenas_kit.errors import TenasError
from tenas_kit.textfiles import csv_rows, number, read_text

WHAT = "labels file"


def read(spec, space):
    """``{cell text, as the space writes it: value}`` from ``FILE``, ``FILE:COLUMN`` or a mapping."""
    if isinstance(spec, Mapping):
        return _checked(space, ((f"label {i + 1}", arch, value) for i, (arch, value) in enumerate(spec.items())),
                        "labels")
    if not isinstance(spec, (str, os.PathLike)):
        raise TenasError(f"labels must be a file name (FILE or FILE:COLUMN) or a mapping of architecture -> value, "
                         f"not {type(spec).__name__}.")
    path, column = _split(os.fspath(spec))
    return _checked(space, _rows(path, column), f"{WHAT} '{path}'")


def by_class(space, labels):
    """``{representative's text: mean label}``: the labels of isomorphic cells pooled, one entry a class."""
    from tenas_kit.ranker import scored_cell

    pooled = {}
    for text, value in labels.items():
        pooled.setdefault(space.format(scored_cell(space, space.parse(text))), []).append(value)
    return {key: sum(values) / len(values) for key, values in pooled.items()}


def _split(spec):
    """``(path, column or None)``: the spec names a file, or a file and a column after its last colon."""
    if Path(spec).is_file():
        return Path(spec), None
    head, colon, column = spec.rpartition(":")
    if colon and head and Path(head).is_file():
        return Path(head), column
    raise TenasError(f"{WHAT} '{spec}' does not exist; give a CSV with an 'arch' column and a column of values "
                     f"(FILE, or FILE:COLUMN to pick the column).")


def _rows(path, column):
    fields, rows = csv_rows(read_text(path, WHAT), path, WHAT)
    if "arch" not in fields:
        raise TenasError(f"{WHAT} '{path}' has no 'arch' column (columns: {', '.join(fields) or 'none'}); give a "
                         f"CSV with an 'arch' column and a column of values.")
    others = [f for f in fields if f != "arch"]
    if column is None and len(others) != 1:
        listed = ", ".join(others) or "none"
        raise TenasError(f"{WHAT} '{path}' has {len(others)} columns besides 'arch' ({listed}); name the one to "
                         f"learn from as {path}:COLUMN.")
    column = column if column is not None else others[0]
    if column not in others:
        raise TenasError(f"{WHAT} '{path}' has no column '{column}'; its columns besides 'arch': "
                         f"{', '.join(others) or 'none'}.")
    for where, row in rows:
        arch = (row.get("arch") or "").strip()
        value = number(row.get(column), path, where, column, WHAT)
        if value is not None and not arch:
            raise TenasError(f"{WHAT} '{path}', {where}: the value {value:g} has no architecture in 'arch'.")
        if value is not None:  # an empty cell: nothing measured for that cell
            yield where, arch, value


def _checked(space, rows, what):
    labels, seen = {}, {}
    for where, arch, value in rows:
        text = _cell(space, arch, f"{what}, {where}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise TenasError(f"{what}, {where}: the value of {text} is {value!r}, not a finite number.")
        if text in labels and labels[text] != float(value):
            raise TenasError(f"{what}, {where}: {text} is labelled {labels[text]:g} at {seen[text]} and {value:g} "
                             f"here; keep one of the two values.")
        labels[text], seen[text] = float(value), where
    return labels


def _cell(space, arch, where):
    try:
        return space.format(space.parse(arch) if isinstance(arch, str) else arch)
    except TenasError as exc:
        raise TenasError(f"{where}: {exc}") from None
    except Exception:  # noqa: BLE001 - an object the space cannot write is no cell of it
        raise TenasError(f"{where}: {arch!r} is no architecture of space '{space.name}'.") from None
