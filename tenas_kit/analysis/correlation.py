"""Rank correlation of scores with accuracy, with bootstrap confidence intervals (scipy)."""

import warnings

import numpy as np
from scipy.stats import DegenerateDataWarning, bootstrap, kendalltau, spearmanr

LEVEL = 0.95


def correlations(scores, accuracy, resamples=1000, seed=0):
    """Kendall tau and Spearman rho of the (score, accuracy) pairs where both are finite, each with a
    95% percentile-bootstrap interval: ``resamples`` resamplings of the pairs (``paired=True``),
    drawn from ``numpy.random.default_rng(seed)``, so a rerun gives the same interval.

    Values are correlated as given: the caller negates a lower-is-better column if it wants
    positive to mean agreement. ``reason`` is None, or says why there is no correlation (tau, rho
    and their intervals are NaN then); ``ci_reason`` says why an interval is NaN while tau is not.
    """
    scores, accuracy = np.asarray(scores, float), np.asarray(accuracy, float)
    finite = np.isfinite(scores) & np.isfinite(accuracy)
    total = len(scores)
    scores, accuracy = scores[finite], accuracy[finite]
    nan = float("nan")
    out = {"n": len(scores), "reason": None, "ci_reason": None}
    out.update({f"{name}{part}": nan for name in ("tau", "rho") for part in ("", "_low", "_high")})
    # Decided before scipy sees the data: it would raise (bootstrap) or warn and return NaN, and a
    # command that prints a table must say why a row is empty rather than lose the other rows.
    if len(scores) < 2:
        out["reason"] = f"fewer than 2 finite scores ({len(scores)} of {total})"
        return out
    if np.ptp(scores) == 0:
        out["reason"] = f"constant (every finite score is {scores[0]:g})"
        return out
    if np.ptp(accuracy) == 0:
        out["reason"] = f"constant accuracy (all {accuracy[0]:g})"
        return out
    for name, fn in (("tau", kendalltau), ("rho", spearmanr)):
        out[name] = float(fn(scores, accuracy)[0])
        with warnings.catch_warnings():
            # A resample may draw one pair over and over; its statistic is NaN, reported below as
            # ci_reason. (scipy's ConstantInputWarning is a DegenerateDataWarning.)
            warnings.simplefilter("ignore", DegenerateDataWarning)
            interval = bootstrap(
                (scores, accuracy), lambda x, y: fn(x, y)[0], paired=True, vectorized=False, confidence_level=LEVEL,
                n_resamples=resamples, method="percentile", random_state=np.random.default_rng(seed),
            ).confidence_interval
        out[f"{name}_low"], out[f"{name}_high"] = float(interval.low), float(interval.high)
        if not (np.isfinite(interval.low) and np.isfinite(interval.high)):
            out["ci_reason"] = "none: some resamples are constant"
    return out
