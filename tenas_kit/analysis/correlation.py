"""Rank correlation of scores with accuracy, with bootstrap confidence intervals (scipy)."""

import numpy as np
from scipy.stats import bootstrap, kendalltau, spearmanr


def correlations(scores, accuracy, resamples=1000, seed=0):
    """Kendall tau and Spearman rho with 95% percentile-bootstrap intervals (pairs resampled)."""
    scores, accuracy = np.asarray(scores, float), np.asarray(accuracy, float)
    finite = np.isfinite(scores)
    scores, accuracy = scores[finite], accuracy[finite]
    out = {"n": len(scores)}
    for name, fn in (("tau", kendalltau), ("rho", spearmanr)):
        out[name] = float(fn(scores, accuracy)[0])
        interval = bootstrap(
            (scores, accuracy), lambda x, y: fn(x, y)[0], paired=True, vectorized=False,
            n_resamples=resamples, method="percentile", random_state=np.random.default_rng(seed),
        ).confidence_interval
        out[f"{name}_low"], out[f"{name}_high"] = float(interval.low), float(interval.high)
    return out
