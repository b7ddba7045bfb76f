"""TE-NAS's ranking rules, as the reference code applies them: rounding, dense ranks, relative change."""

import math

import numpy as np


def round_significant(value, digits=3, eps=1e-8):
    """Round to ``digits`` significant figures (the reference's ``round_to``)."""
    if value == 0 or not math.isfinite(value):
        return value
    sign = 1.0 if value > 0 else -1.0
    magnitude = abs(value) + eps
    power = math.floor(math.log10(magnitude)) + 1
    return sign * round(magnitude * 10 ** (-power), digits) * 10**power


def sorted_dense_ranks(values, descending, digits=3):
    """Dense ranks the reference's way: order by the value rounded to ``digits``
    significant figures (stable), then a value exactly equal to the one before it
    shares its rank, any other value takes the next rank.

    Returns (ranks, order): ranks per input position, and the sorted positions.
    A non-finite value (a proxy that failed on a candidate) ranks after every finite one.
    """
    values = [float(v) for v in values]
    keys = [round_significant(v, digits) for v in values]
    sign = -1 if descending else 1
    order = sorted(range(len(values)), key=lambda i: (not math.isfinite(keys[i]), sign * keys[i] if math.isfinite(keys[i]) else 0))
    ranks = np.zeros(len(values), dtype=np.int64)
    for position in range(1, len(order)):
        here, before = order[position], order[position - 1]
        same = values[here] == values[before] or not (math.isfinite(values[here]) or math.isfinite(values[before]))
        ranks[here] = ranks[before] + (not same)
    return ranks, order


def relative_change(base, values, decimals=3):
    """(base - value) / base per repeat, rounded to ``decimals`` then averaged over repeats."""
    base = np.asarray(base, dtype=float)[:, None]
    change = np.round((base - np.asarray(values, dtype=float)) / base, decimals)
    return change.mean(axis=0)
