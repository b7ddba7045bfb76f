"""DARTS genotypes: the text DARTS-family training code reads, and op masks.

``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
reduce=[...], reduce_concat=[2, 3, 4, 5])``: per cell type 8 (op, input) pairs,
two per intermediate node in node order. Text is read with ``ast`` (literals
and ``range(a, b)`` only), never evaluated.
"""

import ast
from typing import NamedTuple

import numpy as np

from tenas_kit.errors import TenasError, closest
from tenas_kit.space import ZERO

from .layout import CELL_TYPES, EDGES, NODE_EDGES, NODES, OPS

CONCAT = tuple(NODES)
KEEP = 2  # input edges per intermediate node
FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
EXPECTED = (
    "expected Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ...8 (op, input) pairs, 2 per node], "
    "normal_concat=[2, 3, 4, 5], reduce=[...8 pairs], reduce_concat=[2, 3, 4, 5])"
)


class Genotype(NamedTuple):
    """Field names as DARTS's namedtuple; pairs and concat are tuples so it hashes."""

    normal: tuple
    normal_concat: tuple
    reduce: tuple
    reduce_concat: tuple


def parse(text):
    call = _call(text)
    values = {kw.arg: kw.value for kw in call.keywords}
    if call.args or None in values or set(values) != set(FIELDS):
        raise _malformed(f"needs exactly the keyword arguments {', '.join(FIELDS)}")
    fields = {}
    for cell in CELL_TYPES:
        fields[cell] = _pairs(cell, values[cell])
        fields[f"{cell}_concat"] = _concat(cell, values[f"{cell}_concat"])
    return Genotype(**fields)


def format(arch):
    parts = []
    for cell in CELL_TYPES:
        pairs = ", ".join(f"('{op}', {j})" for op, j in getattr(arch, cell))
        concat = ", ".join(str(k) for k in getattr(arch, f"{cell}_concat"))
        parts.append(f"{cell}=[{pairs}], {cell}_concat=[{concat}]")
    return f"Genotype({', '.join(parts)})"


def sample(rng):
    """A genotype drawn uniformly: per cell type and node, two distinct inputs among the node's predecessors
    (every pair alike) and an op for each (every op but 'none' alike), pairs ordered by input."""
    fields = {}
    for cell in CELL_TYPES:
        pairs = []
        for k in NODES:
            inputs = sorted(int(j) for j in rng.choice(k, size=KEEP, replace=False))
            ops = rng.integers(1, len(OPS), size=KEEP)  # OPS[0] is 'none'
            pairs += [(OPS[int(o)], j) for o, j in zip(ops, inputs)]
        fields[cell], fields[f"{cell}_concat"] = tuple(pairs), CONCAT
    return Genotype(**fields)


def representative(arch):
    """``arch`` with each node's two pairs ordered by input: genotypes that list a node's inputs in another
    order build the same op mask, and so the same networks and scores.

    Relabelling intermediate nodes is not merged: the cell's output concatenates the nodes in order, so such
    a genotype is the same function only up to a permutation of channels, and its seeded initial weights, and
    so its scores, differ."""
    fields = {}
    for cell in CELL_TYPES:
        pairs = getattr(arch, cell)
        fields[cell] = tuple(p for node in _by_node(pairs) for p in sorted(node, key=lambda pair: pair[1]))
        fields[f"{cell}_concat"] = CONCAT
    return Genotype(**fields)


def canonical(arch):
    return format(representative(arch))


def neighbours(arch):
    """Every genotype one edit from ``arch``, as ``representative`` writes it. An edit changes one (op, input)
    pair of one cell type: its op to another that a genotype may hold (any but 'none'), or its input to
    another that the node may read (a cell input or an earlier node) and that its other pair does not. An op
    change moves one row of the op mask, an input change two (the edge dropped and the edge taken)."""
    found = []
    for cell in CELL_TYPES:
        pairs = getattr(arch, cell)
        for p, (op, j) in enumerate(pairs):
            first = p - p % KEEP
            taken = {i for _, i in pairs[first : first + KEEP]}
            edits = [(o, j) for o in OPS if o not in (ZERO, op)]
            edits += [(op, i) for i in range(NODES[p // KEEP]) if i not in taken]
            found += [representative(arch._replace(**{cell: pairs[:p] + (edit,) + pairs[p + 1 :]})) for edit in edits]
    return list(dict.fromkeys(found))


def to_mask(arch):
    mask = np.zeros((len(CELL_TYPES), len(EDGES), len(OPS)), dtype=bool)
    for c, cell in enumerate(CELL_TYPES):
        for k, pairs in zip(NODES, _by_node(getattr(arch, cell))):
            for op, j in pairs:
                mask[c, NODE_EDGES[k][j], OPS.index(op)] = True
    return mask


def from_mask(mask):
    """Genotype of a final mask: per node exactly 2 edges with one non-none op each."""
    shape = (len(CELL_TYPES), len(EDGES), len(OPS))
    if np.shape(mask) != shape:
        raise TenasError(f"the op mask has shape {np.shape(mask)}; a DARTS mask is {shape} (cell types x edges x ops).")
    fields = {}
    for c, cell in enumerate(CELL_TYPES):
        pairs = []
        for k in NODES:
            kept = [e for e in NODE_EDGES[k] if mask[c, e].any()]
            if len(kept) != KEEP or any(mask[c, e].sum() != 1 or mask[c, e, OPS.index(ZERO)] for e in kept):
                raise TenasError(
                    f"the op mask is not a DARTS genotype: {cell} node {k} needs exactly {KEEP} input edges "
                    f"with one non-'none' op each, it has {len(kept)} edge(s) with {int(mask[c, list(NODE_EDGES[k])].sum())} op(s)."
                )
            # Edges of a node are ordered by source, so pairs come out ordered by input index.
            pairs += [(OPS[int(np.flatnonzero(mask[c, e])[0])], EDGES[e][1]) for e in kept]
        fields[cell], fields[f"{cell}_concat"] = tuple(pairs), CONCAT
    return Genotype(**fields)


def _by_node(pairs):
    return [pairs[KEEP * i : KEEP * (i + 1)] for i in range(len(NODES))]


def _call(text):
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError) as error:
        raise _malformed(f"not valid Python syntax ({getattr(error, 'msg', error)})") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise _malformed("it is not a Genotype(...) call")
    return call


def _literal(node, what):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        raise _malformed(f"{what} must be a literal") from None


def _pairs(cell, node):
    pairs = _literal(node, cell)
    if not isinstance(pairs, (list, tuple)) or len(pairs) != KEEP * len(NODES):
        raise _malformed(f"{cell} needs a list of {KEEP * len(NODES)} (op, input) pairs")
    checked = []
    for p, pair in enumerate(pairs):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str) and type(pair[1]) is int):
            raise _malformed(f"{cell} entry {p} is {pair!r}, not an (op name, input index) pair")
        checked.append((pair[0], pair[1]))
    for k, node_pairs in zip(NODES, _by_node(checked)):
        _check_node(cell, k, node_pairs)
    return tuple(checked)


def _check_node(cell, k, pairs):
    """Node k (2..5) may read the cell inputs 0, 1 and nodes 2..k-1, each at most once."""
    for op, j in pairs:
        if op == ZERO:
            raise _malformed(f"{cell} node {k} uses 'none', which a final architecture never keeps")
        if op not in OPS:
            hint = closest(op, OPS[1:])
            raise _malformed(f"{cell} node {k}: unknown op '{op}'" + (f" (did you mean '{hint}'?)" if hint else ""))
        if not 0 <= j < k:
            raise _malformed(f"{cell} node {k}: input {j} is out of range 0..{k - 1}")
    if pairs[0][1] == pairs[1][1]:
        raise _malformed(f"{cell} node {k} takes input {pairs[0][1]} twice")


def _concat(cell, node):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords:
        bounds = [_literal(arg, f"{cell}_concat") for arg in node.args]
        if not (1 <= len(bounds) <= 3 and all(type(b) is int for b in bounds)) or 0 in bounds[2:]:
            raise _malformed(f"{cell}_concat: range() needs integer bounds and a non-zero step")
        concat = range(*bounds)  # lazy: compared without building a list
    else:
        concat = _literal(node, f"{cell}_concat")
    if not isinstance(concat, (list, tuple, range)) or tuple(concat[:5]) != CONCAT:
        raise _malformed(f"{cell}_concat must be [2, 3, 4, 5], the 4 intermediate nodes")
    return CONCAT


def _malformed(why):
    return TenasError(f"malformed DARTS genotype: {why}; {EXPECTED}.")
