"""The built-in ranker that learns from labels: a random forest that corrects the training-free rule.

A ranking is judged by order (Kendall tau), so the forest fits ranks: each labelled cell's rank among the
labels minus its rank by the training-free rule, both as fractions of the labelled cells. A prediction is
the cell's rank by the rule among all the cells plus the forest's correction, so with few labels, when the
corrections it learns are small, the ranking stays close to the rule, and more labels move it further.
The predicted rank is read back on the labels' own scale through their quantiles, so a cell's
``predicted`` value compares with a label. Why a forest and these settings: docs/decisions.md.
"""

import numpy as np

from tenas_kit.hookspecs import hookimpl
from tenas_kit.learned import RULE

TREES = 300
FEATURES_PER_SPLIT = 0.33  # of the features, drawn afresh at every split


class Forest:
    name = "forest"
    description = ("random forest (scikit-learn) correcting the training-free rule, on the proxies' ranks and "
                   "the space's cell features")
    min_labels = 8

    def fit(self, features, labels, seed):
        from scipy.stats import rankdata
        from sklearn.ensemble import RandomForestRegressor

        correction = _fraction(rankdata(labels)) - _fraction(rankdata(features.column(RULE)))
        model = RandomForestRegressor(TREES, max_features=FEATURES_PER_SPLIT, random_state=seed, n_jobs=1)
        return Fitted(model.fit(features.values, correction), np.sort(labels))


class Fitted:
    def __init__(self, model, ordered):
        self.model, self.ordered = model, ordered

    def predict(self, features):
        return on_scale(features.column(RULE) + self.model.predict(features.values), self.ordered)


def _fraction(ranks):
    return ranks / len(ranks)


def on_scale(fractions, ordered):
    """Ranks as fractions (1 the top) as values on the scale of the sorted labels ``ordered``: their quantile,
    and beyond the lowest and the highest, a straight line of the labels' mean slope, so an order is kept."""
    points = _fraction(np.arange(1, len(ordered) + 1))
    slope = (ordered[-1] - ordered[0]) / max(points[-1] - points[0], 1e-12)
    inside = np.interp(fractions, points, ordered)
    below, above = fractions < points[0], fractions > points[-1]
    return np.where(below, ordered[0] - (points[0] - fractions) * slope,
                    np.where(above, ordered[-1] + (fractions - points[-1]) * slope, inside))


@hookimpl
def register_rankers(register):
    register(Forest())
