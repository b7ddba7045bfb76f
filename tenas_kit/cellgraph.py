"""Features of a cell that is a small DAG of ops, for a space's ``features(arch)`` (``SearchSpace``).

GRAF's neural graph features (Kadlecová et al., 2024): per group of ops, how many input-to-output paths
run through that group's ops only, their shortest and longest length, and the degrees of the input and the
output over those ops; besides them the count of each op and the op on each edge, one-hot. A learned
ranker reads them beside the proxies' scores: a path of convolutions from input to output, or none at all,
says much about what a cell can learn that no proxy measures directly. The space says which nodes are
inputs and outputs and which groups are worth counting; this module knows no space.
"""

from __future__ import annotations

import functools


def graph_features(edges, inputs, output, groups, prefix=""):
    """``{name: value}`` of one cell's paths. ``edges``: ``[(target, source, op)]`` of the ops the cell runs
    (edges whose op outputs zeros left out); ``inputs``: the input nodes; ``output``: the output node;
    ``groups``: ``{name: set of ops}``."""
    features = {}
    for name, members in groups.items():
        kept = tuple((t, s) for t, s, op in edges if op in members)
        lengths = _path_lengths(kept, tuple(inputs), output)
        features[f"{prefix}paths:{name}"] = float(len(lengths))
        features[f"{prefix}shortest:{name}"] = float(min(lengths, default=0))
        features[f"{prefix}longest:{name}"] = float(max(lengths, default=0))
        features[f"{prefix}out_degree:{name}"] = float(sum(s in inputs for _, s in kept))
        features[f"{prefix}in_degree:{name}"] = float(sum(t == output for t, _ in kept))
    return features


def op_features(edge_ops, ops, prefix=""):
    """How often the cell holds each of the space's ``ops``, and ``"EDGE=OP"``, 0 or 1, for every edge and
    op: ``edge_ops`` is ``[(edge name, op)]``."""
    edge_ops = list(edge_ops)
    counts = {f"{prefix}count:{op}": float(sum(held == op for _, held in edge_ops)) for op in ops}
    return {**counts, **{f"{prefix}{edge}={op}": float(held == op) for edge, held in edge_ops for op in ops}}


@functools.lru_cache(maxsize=65536)
def _path_lengths(edges, inputs, output):
    """The length of every path from an input to ``output`` over ``edges`` ((target, source) pairs)."""
    into = {}
    for target, source in edges:
        into.setdefault(target, []).append(source)

    def lengths(node):
        if node in inputs:
            return [0]
        return [n + 1 for source in into.get(node, ()) for n in lengths(source)]

    return tuple(lengths(output)) if output not in inputs else ()
