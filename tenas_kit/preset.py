"""Presets: a named, weighted set of proxies and the rule that combines their ranks.

A rule takes, per proxy, the ranks of the items (1 the best; ties share the
lowest rank) and the proxy's weight, and returns one number per item, lower is
better. Ranking combines proxies' scores with it; a pruning policy may combine
its candidates' per-proxy ranks with it.
"""

from __future__ import annotations

from numbers import Real
from typing import Callable, Protocol

import numpy as np

from tenas_kit import contract


def rank_sum(ranks, weights):
    """TE-NAS: the weighted sum of the ranks."""
    total = None
    for r, w in zip(ranks, weights):
        term = w * np.asarray(r, dtype=float)
        total = term if total is None else total + term
    return total


def log_rank_sum(ranks, weights):
    """AZ-NAS: each proxy orders the n items worst (1) to best (n); an item scores the weighted sum of
    log(order / n) over proxies, so one poor proxy pulls an item down more than rank sums allow.
    Negated, so that lower is better like every rule here."""
    total = None
    for r, w in zip(ranks, weights):
        r = np.asarray(r, dtype=float)
        ascending = len(r) + 1 - r
        term = w * np.log(ascending / len(r))
        total = term if total is None else total + term
    return 0.0 - total  # not -total: the best possible item would print as -0.0


RULES = {"rank_sum": rank_sum, "log_rank_sum": log_rank_sum}


class Preset(Protocol):
    """A preset (``register_presets``), checked when its plugin loads (``tenas_kit.contract``)."""

    name: str
    description: str
    proxies: list  # [(proxy name, weight)]
    combine: str | Callable = "rank_sum"  # a rule of RULES by name, or a rule of the preset's own
    options: dict = {}  # option values the preset's proxies are meant to run with, e.g. {"proxy_network": "evaluation"}
    repeats: int | None = None  # repeats per measurement unless the user gives --repeats (None: the command's default)


def rule_of(combine):
    """The rule a preset or config names; a callable is its own rule."""
    from tenas_kit.errors import TenasError

    if callable(combine):
        return combine
    if combine not in RULES:
        raise TenasError(f"unknown combination rule '{combine}'; known: {', '.join(RULES)}.")
    return RULES[combine]


@contract.values(Preset)
def problem(preset):
    """What is wrong with a preset's values, or None: found as its plugin loads, not halfway through a ranking."""
    pairs = preset.proxies
    if not isinstance(pairs, (list, tuple)) or not pairs or not all(_is_pair(p) for p in pairs):
        return (f"preset '{preset.name}': proxies must be a list of (proxy name, weight) pairs, e.g. "
                f"[('meco', 1.0), ('swap', 1.0)], not {contract.short(pairs)}")
    combine = getattr(preset, "combine", "rank_sum")
    if not callable(combine) and not (isinstance(combine, str) and combine in RULES):
        return (f"preset '{preset.name}': combine {combine!r} is no rule of tenas_kit.preset.RULES "
                f"({', '.join(RULES)}) and not callable")
    if not isinstance(getattr(preset, "options", {}), dict):
        return f"preset '{preset.name}': options must be a dict of option values, not {contract.short(preset.options)}"
    return None


def unresolved(preset, registry):
    """What a preset names that ``registry`` lacks, or None (``Registry.get`` asks, once every plugin loaded)."""
    from tenas_kit.errors import unknown

    known = registry.names("proxy")
    for name, _ in preset.proxies:
        if name not in known:
            return f"names {unknown('proxy', name, known)} Fix that plugin, or install the one providing the proxy."
    return None


def _is_pair(item):
    return (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str) and bool(item[0])
            and isinstance(item[1], Real) and not isinstance(item[1], bool))
