"""Rankings that learn from labels: a model fitted on the measured values of some cells ranks the others.

A ranker (``register_rankers``, contract ``Ranker``) fits a model on rows of ``Features`` and the labels of
those rows, and the fitted model predicts a value for any rows (higher is better). A row describes one cell:
each proxy's score as its rank among the cells at hand (so a proxy's scale, and whether higher is better,
do not matter), the training-free rule's combined rank, and the space's encoding of the cell
(``SearchSpace.features``, where the space has it). Isomorphic cells compute one function, so they get one
row: the space's representative's. ``learn`` fits, predicts every row and says, by k-fold cross-validation
on the labelled rows, how well the model ranks cells it was not fitted on. Reading labels and ranking by
them: ``tenas_kit.labels``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tenas_kit.errors import TenasRuntimeError

FOLDS = 5
RULE = "rule"  # the feature that holds the training-free rule's combined rank


@dataclass(frozen=True)
class Features:
    names: tuple  # one per column
    values: np.ndarray  # cells x features, float

    def rows(self, index):
        """The features of some cells (an index or a boolean mask into the rows)."""
        return Features(self.names, self.values[index])

    def column(self, name):
        return self.values[:, self.names.index(name)]


class Fitted(Protocol):
    def predict(self, features: Features) -> np.ndarray:
        """A value for each row of ``features``: what its label would be, on the labels' scale, since a ranking
        orders labelled cells by their labels among the others' predictions."""


class Ranker(Protocol):
    """A ranker that learns from labels (``register_rankers``), checked when its plugin loads."""

    name: str
    description: str
    min_labels: int = 8  # fewer labelled cells than this, and a ranking keeps the training-free rule

    def fit(self, features: Features, labels: np.ndarray, seed: int) -> Fitted:
        """A model of ``labels`` (higher is better) on ``features`` (one row per labelled cell); ``seed``, in
        [0, 2**32), makes the fit reproducible. Called again for every fold of the cross-validation."""


@dataclass(frozen=True)
class Learned:
    predicted: np.ndarray  # the fitted model's value for every row of the features
    cv_tau: float  # Kendall tau of out-of-fold predictions against the labels, within folds (NaN: no value)
    rule_tau: float  # the training-free rule's Kendall tau against the same labels, on the same pairs
    folds: int


def encode(space, archs, columns, rule):
    """``Features`` of ``archs`` (the space's objects, one row each): ``columns`` is ``[(name, scores,
    higher_is_better)]`` of the proxies, ``rule`` the training-free rule's number (lower is better), both
    aligned with ``archs``."""
    names = [f"proxy:{name}" for name, _, _ in columns] + [RULE]
    values = [_percentile(scores, higher) for _, scores, higher in columns] + [_percentile(rule, False)]
    described = getattr(space, "features", None)
    if described is not None:
        rows = [_checked(space, described(arch)) for arch in archs]
        keys = list(rows[0]) if rows else []
        if any(list(row) != keys for row in rows):
            raise TenasRuntimeError(f"space '{space.name}' breaks its contract: features(arch) must give the same "
                                    f"names, in the same order, for every cell (tenas_kit.space.SearchSpace).")
        names += [f"cell:{key}" for key in keys]
        values += list(np.array([list(row.values()) for row in rows], dtype=float).reshape(len(archs), -1).T)
    return Features(tuple(names), np.column_stack(values) if archs else np.zeros((0, len(names))))


def learn(ranker, features, rows, labels, seed, folds=FOLDS):
    """Fit ``ranker`` on the features of ``rows`` and their ``labels`` (one per row, distinct rows), predict
    every row, and cross-validate on the labelled rows (``folds`` at most; 0: no cross-validation)."""
    rows, labels = np.asarray(rows, dtype=int), np.asarray(labels, dtype=float)
    train = features.rows(rows)
    predicted = _predict(ranker, train, labels, features, seed)
    folds = min(folds, len(rows))
    if folds < 2:
        return Learned(predicted, float("nan"), _tau(train.column(RULE), labels), 0)
    return Learned(predicted, *_cross_validated(ranker, train, labels, seed, folds), folds)


def _predict(ranker, train, labels, rows, seed):
    fitted = ranker.fit(train, labels, seed)
    predicted = np.asarray(fitted.predict(rows), dtype=float).reshape(-1)
    if predicted.shape != (len(rows.values),) or not np.isfinite(predicted).all():
        raise TenasRuntimeError(f"ranker '{ranker.name}' breaks its contract: predict gave {predicted.shape} values "
                                f"for {len(rows.values)} cells, or some not finite (tenas_kit.learned.Ranker).")
    return predicted


def _cross_validated(ranker, train, labels, seed, folds):
    """``(model's tau, rule's tau)``: each labelled row predicted by a model fitted without its fold, and Kendall
    tau taken over the pairs of rows held out together, as is the rule's. Each fold's model orders only the
    rows it predicts; pooled across folds, their offsets would count against the model, so that with tens of
    labels the model looked worse than the rule where it ranked the unlabelled cells better."""
    from tenas_kit.seeds import numpy_rng

    fold_of = numpy_rng(seed, "folds").permutation(len(labels)) % folds
    rule, model_taus, rule_taus, pairs = train.column(RULE), [], [], []
    for fold in range(folds):
        held = fold_of == fold
        out = _predict(ranker, train.rows(~held), labels[~held], train.rows(held), seed)
        model_taus.append(_tau(out, labels[held]))
        rule_taus.append(_tau(rule[held], labels[held]))
        pairs.append(held.sum() * (held.sum() - 1) / 2)
    return _pair_weighted(model_taus, pairs), _pair_weighted(rule_taus, pairs)


def _pair_weighted(taus, pairs):
    """The mean of the folds' taus, each weighted by its pairs; folds where tau has no value left out."""
    taus, pairs = np.asarray(taus, dtype=float), np.asarray(pairs, dtype=float)
    kept = np.isfinite(taus) & (pairs > 0)
    return float(np.average(taus[kept], weights=pairs[kept])) if kept.any() else float("nan")


def _tau(values, labels):
    from scipy.stats import kendalltau

    if np.ptp(values) == 0 or np.ptp(labels) == 0:
        return float("nan")  # a constant has no order to agree with
    return float(kendalltau(values, labels).statistic)


def _percentile(scores, higher_is_better):
    """Each score's rank among ``scores`` over their number, 1 the best; a non-finite score is the worst."""
    from scipy.stats import rankdata

    scores = np.asarray(scores, dtype=float)
    oriented = np.where(np.isfinite(scores), scores if higher_is_better else -scores, -np.inf)
    return rankdata(oriented, method="average") / max(len(scores), 1)


def _checked(space, row):
    if not isinstance(row, dict) or not all(isinstance(k, str) for k in row):
        raise TenasRuntimeError(f"space '{space.name}' breaks its contract: features(arch) returned "
                                f"{type(row).__name__}, not a dict of name -> number (tenas_kit.space.SearchSpace).")
    try:
        values = {k: float(v) for k, v in row.items()}
    except (TypeError, ValueError):
        raise TenasRuntimeError(f"space '{space.name}' breaks its contract: features(arch) holds a value that is "
                                f"not a number (tenas_kit.space.SearchSpace).") from None
    return values


def seed_of(run_seed, ranker):
    """The seed a ranker fits with: from the run seed and the ranker's name, in [0, 2**32)."""
    from tenas_kit.seeds import derive

    return derive(run_seed, "ranker", ranker.name) % 2**32
