"""NAS-Bench-201 architecture strings: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""

import functools
import itertools

from tenas_kit.errors import TenasError

from .layout import EDGES, NODES, OPS

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def parse(text):
    """Tuple of op names in canonical edge order."""
    text = text.strip()
    nodes = text.split("+")
    if len(nodes) != NODES - 1:
        raise _malformed(text, f"expected {NODES - 1} node groups joined by '+', found {len(nodes)}")
    ops = []
    for target, group in enumerate(nodes, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise _malformed(text, f"node {target} group '{group}' must start and end with '|'")
        items = group[1:-1].split("|")
        if len(items) != target:
            raise _malformed(text, f"node {target} needs {target} inputs, found {len(items)}")
        for source, item in enumerate(items):
            op, _, index = item.partition("~")
            if op not in OPS:
                raise _malformed(text, f"unknown op '{op}' (ops: {', '.join(OPS)})")
            if index != str(source):
                raise _malformed(text, f"'{item}' should read '{op}~{source}'")
            ops.append(op)
    return tuple(ops)


def format(arch):
    groups = []
    for target in range(1, NODES):
        items = [f"{arch[e]}~{j}" for e, (i, j) in enumerate(EDGES) if i == target]
        groups.append("|" + "|".join(items) + "|")
    return "+".join(groups)


def _malformed(text, why):
    return TenasError(f"malformed NAS-Bench-201 architecture '{text}': {why}; example: {EXAMPLE}")


def canonical(arch):
    """NAS-Bench-201's isomorphism key (its ``to_unique_str(consider_zero=True)``).

    A node is the sorted sum of its input terms: '#' for a zero term (a 'none'
    edge, or an edge from a node whose key is '#'), the input's key for a skip
    connection, '(key)@op' otherwise. The 15625 cells have 6466 distinct keys.
    """
    keys = ["0"]
    for target in range(1, NODES):
        terms = []
        for e, (i, j) in enumerate(EDGES):
            if i != target:
                continue
            if arch[e] == "none" or keys[j] == "#":
                terms.append("#")
            elif arch[e] == "skip_connect":
                terms.append(keys[j])
            else:
                terms.append(f"({keys[j]})@{arch[e]}")
        keys.append("+".join(sorted(terms)))
    return keys[-1]


def every():
    """Every architecture, in the benchmark's enumeration order (the first edge varies slowest)."""
    return [tuple(ops) for ops in itertools.product(OPS, repeat=len(EDGES))]


def representative(arch):
    """The first member of ``arch``'s isomorphism class in enumeration order.

    It is also a member with the fewest ops (a test checks every class): ``none`` comes first among the
    ops, so no op of it could be ``none`` without leaving the class.
    """
    return _representatives()[canonical(arch)]


@functools.cache
def _representatives():
    found = {}
    for arch in every():
        found.setdefault(canonical(arch), arch)
    return found
