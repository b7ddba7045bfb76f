"""The built-in ranker that learns from labels: a random forest on the ranks of the labels.

The forest is fitted to each label's rank among the labels rather than to the label itself: a ranking is
judged by order (Kendall tau), and a handful of broken cells (10% accuracy where the rest reach 85-94)
would otherwise draw the fit to separating them from the rest. Its prediction, a rank, is read back on
the labels' own scale by their quantiles, so ``predicted`` sits beside ``label`` in the results. Why a
forest, and why these settings: docs/decisions.md.
"""

import numpy as np

from tenas_kit.hookspecs import hookimpl

TREES = 300


class Forest:
    name = "forest"
    description = "random forest (scikit-learn) on the proxies' ranks and the space's cell features"
    min_labels = 8

    def fit(self, features, labels, seed):
        from scipy.stats import rankdata
        from sklearn.ensemble import RandomForestRegressor

        target = rankdata(labels) / len(labels)
        model = RandomForestRegressor(TREES, random_state=seed, n_jobs=1).fit(features, target)
        return Fitted(model, np.sort(labels))


class Fitted:
    def __init__(self, model, ordered):
        self.model, self.ordered = model, ordered

    def predict(self, features):
        ranks = self.model.predict(features)
        return np.interp(ranks, np.arange(1, len(self.ordered) + 1) / len(self.ordered), self.ordered)


@hookimpl
def register_rankers(register):
    register(Forest())
