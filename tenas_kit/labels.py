"""Labels: measured values of some cells (an accuracy, higher is better), and the ranking learned from them.

``rank --labels FILE[:COLUMN]`` reads a CSV with an ``arch`` column and one numeric column (or the column
named); the API takes the same text or a mapping ``{architecture: value}``. Every cell must be a cell of
the space and every value a finite number; a cell given twice with two values is refused, since one of
them is wrong. Isomorphic cells are different cells with one function: each keeps its own label, and the
model sees their mean (``by_class``), as a benchmark table answers for a cell it lacks. ``learn_ranking``
turns a batch ranking of the candidates and the labelled cells into the candidates' ranking by what a
ranker (``tenas_kit.learned``) learns from the labels.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from tenas_kit.errors import TenasError
from tenas_kit.learned import Learned, Ranker, encode, learn
from tenas_kit.textfiles import csv_rows, file_and_column, number, read_text

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
    pooled = {}
    for text, value in labels.items():
        pooled.setdefault(_class(space, text), []).append(value)
    return {key: sum(values) / len(values) for key, values in pooled.items()}


def _split(spec):
    """``(path, column or None)``: the spec names a file, or a file and a column after its last colon."""
    path, column = file_and_column(spec)
    if path is not None:
        return path, column
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


@dataclass(frozen=True)
class Summary:
    """What learning from labels said, for the ranking's reader."""

    ranker: str
    labelled: int  # cells labelled
    fitted: int  # rows the model was fitted on: the labelled cells, isomorphs pooled into one
    among: int  # of the candidates, how many are labelled
    learned: Learned | None  # None when the rule ranks (``fallback`` says why)
    fallback: str | None = None


def learn_ranking(ranking, plan, labels, ranker, seed, candidates):
    """The ranking of the first ``candidates`` architectures of ``ranking`` (a ``ranker.Ranking`` of them and
    of every labelled cell), learned from ``labels`` (``{cell text: value}``) by ``ranker``; with too few
    labels, or all equal, the training-free rule's ranking with the labels marked and ``fallback`` set."""
    classes = [_class(plan.space, text) for text in ranking.archs]
    pooled = by_class(plan.space, labels)
    kept = _candidates(ranking, plan, labels, classes, candidates)
    among = int(np.isfinite(kept.labels).sum())
    fallback = _fallback(ranker, pooled)
    if fallback:
        return replace(kept, learned=Summary(ranker.name, len(labels), len(pooled), among, None, fallback))
    learned, row_of = _fit(ranking, plan, classes, pooled, ranker, seed)
    predicted = learned.predicted[[row_of[cell] for cell in classes[:candidates]]]
    return replace(kept, predicted=predicted, learned=Summary(ranker.name, len(labels), len(pooled), among, learned))


def _candidates(ranking, plan, labels, classes, candidates):
    """The ranking of the candidates alone, by the rule, with each one's label (NaN: none)."""
    from tenas_kit.ranker import weighted_rank_sum

    scores = {name: values[:candidates] for name, values in ranking.scores.items()}
    rule = weighted_rank_sum([(scores[p.name], p.higher_is_better, w) for p, w, _ in plan.proxies], plan.combine)
    own = np.array([labels.get(text, np.nan) for text in ranking.archs[:candidates]])
    return replace(ranking, archs=ranking.archs[:candidates], scores=scores, rank_sum=rule, labels=own,
                   unique=len(set(classes[:candidates])))


def _fit(ranking, plan, classes, pooled, ranker, seed):
    """``(Learned, {class: its row})``: the ranker fitted on one row a class of every cell scored."""
    cells = {cell: i for i, cell in reversed(list(enumerate(classes)))}  # a class -> its first request
    firsts = list(cells.values())
    columns = [(p.name, ranking.scores[p.name][firsts], p.higher_is_better) for p, _, _ in plan.proxies]
    features = encode(plan.space, [plan.space.parse(cell) for cell in cells], columns, ranking.rank_sum[firsts])
    row_of = {cell: row for row, cell in enumerate(cells)}
    return learn(ranker, features, [row_of[cell] for cell in pooled], list(pooled.values()), seed), row_of


def _fallback(ranker, pooled):
    """Why ``ranker`` cannot learn from ``pooled`` labels, or None."""
    least = getattr(ranker, "min_labels", Ranker.min_labels)
    if len(pooled) < least:
        return f"too few to learn from: ranker '{ranker.name}' needs {least}, isomorphs counted once"
    if len(set(pooled.values())) == 1:
        return "every label has the same value, so they order nothing"
    return None


def _class(space, text):
    """The text of the cell a ranking scores for ``text``: its class's representative, or itself."""
    from tenas_kit.ranker import scored_cell

    return space.format(scored_cell(space, space.parse(text)))


def prepare(registry, space, labels, ranker, texts, shard):
    """``(labels, ranker, cells to score besides texts)`` of ``rank(labels=..., ranker=...)``, checked before
    any work: the labels read, the ranker looked up (None: the first registered), the labelled cells that
    are not among ``texts`` listed, since the model learns from their scores too. No labels: ``(None, None,
    [])``."""
    from tenas_kit.ranker import parse_archs

    if labels is None:
        if ranker is not None:
            raise TenasError("--ranker learns from --labels; give --labels FILE too, or leave --ranker out.")
        return None, None, []
    if shard is not None:
        raise TenasError("--labels needs every cell's scores, and --shard scores a share of them; rank the shards, "
                         "merge their stores (tenaskit merge), then rank with --labels against the merged store.")
    if ranker is None:
        names = registry.names("ranker")
        if not names:
            raise TenasError("learning from labels needs a ranker, and no plugin registers one (tenaskit plugins).")
        ranker = names[0]
    found = registry.get("ranker", ranker)
    labels = read(labels, space)
    asked = {space.format(arch) for arch in parse_archs(space, texts)}
    return labels, found, [text for text in labels if text not in asked]
