"""DARTS's neighbours(arch): the genotypes one edit away, checked against a brute force; and a DARTS search
that spends queries on an oracle, which explores them."""

import itertools
import re

import numpy as np
import pytest

from conftest import plugin_offering
from tenas_kit import SearchConfig, search
from tenas_kit.runfile import read

OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
NODES = (2, 3, 4, 5)
# DARTS's published DARTS_V2 cell, whose nodes list their inputs in any order (normal node 4 reads 1, then 0).
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


@pytest.fixture
def darts(registry):
    return registry.get("space", "darts")


def centres(darts):
    rng = np.random.default_rng(7)
    return [darts.parse(DARTS_V2)] + [darts.sample(rng) for _ in range(3)]


def cell_sets(text):
    """What a genotype text means, read without the space: per cell type, per node, the set of its two
    (op, input) pairs (their order in the text builds the same cell)."""
    meaning = []
    for cell in ("normal", "reduce"):
        pairs = [(op, int(j)) for op, j in re.findall(r"\('(\w+)', (\d+)\)", re.search(rf"{cell}=\[(.*?)\]", text)[1])]
        meaning.append(tuple(frozenset(pairs[i : i + 2]) for i in range(0, 8, 2)))
    return tuple(meaning)


def brute_force(text):
    """Every valid genotype whose meaning differs from ``text``'s by one pair of one node, the pair replaced by
    one that keeps its op or its input (not both): all nodes' valid pair sets enumerated, then filtered."""
    centre, found = cell_sets(text), set()
    for c, n in itertools.product(range(2), range(4)):
        k, old = NODES[n], centre[c][n]
        every = [frozenset(((a, i), (b, j))) for i, j in itertools.combinations(range(k), 2) for a in OPS for b in OPS]
        for node in every:
            gone, new = old - node, node - old
            if len(gone) == len(new) == 1:
                (op, j), (op2, j2) = *gone, *new
                if (op == op2) != (j == j2):
                    cell = centre[c][:n] + (node,) + centre[c][n + 1 :]
                    found.add(tuple(cell if d == c else centre[d] for d in range(2)))
    return found


def test_neighbours_are_every_genotype_one_edit_away_as_a_brute_force_finds(darts):
    for centre in centres(darts):
        neighbours = darts.neighbours(centre)
        meanings = [cell_sets(darts.format(n)) for n in neighbours]
        assert len(set(meanings)) == len(meanings)  # no genotype twice, not even in another pair order
        assert set(meanings) == brute_force(darts.format(centre))
        # Counted apart: each of a cell type's 8 pairs takes 6 other ops, and a pair of node k takes the
        # k - 2 inputs neither of the node's pairs reads.
        assert len(neighbours) == 2 * sum(2 * (6 + k - 2) for k in NODES) == 120


def test_every_neighbour_reads_back_and_changes_the_mask_where_its_edit_is(darts):
    for centre in centres(darts):
        base, changes = darts.arch_to_mask(centre), []
        for neighbour in darts.neighbours(centre):
            text = darts.format(neighbour)
            assert darts.parse(text) == neighbour and text != darts.format(centre)
            mask = darts.arch_to_mask(neighbour)
            assert darts.mask_to_arch(mask) == neighbour  # a genotype the pruning could end on
            rows = np.argwhere((mask != base).any(axis=-1))
            assert len({(c, darts.layout.edges[e].split("<-")[0]) for c, e in rows}) == 1  # one node of one cell
            if len(rows) == 1:  # an op changed: the edge keeps one op, another
                (c, e), = rows
                assert base[c, e].sum() == mask[c, e].sum() == 1
            else:  # an input changed: one edge dropped, one taken, with the same op
                (c, e), (_, f) = rows
                assert (base[c, e] | base[c, f]).tolist() == (mask[c, e] | mask[c, f]).tolist()
                assert base[c, e].any() != base[c, f].any()
            changes.append(len(rows))
        assert changes.count(1) == 2 * 8 * 6 and changes.count(2) == 2 * sum(2 * (k - 2) for k in NODES)


class Inputs:
    """A made-up oracle for DARTS: better the earlier the inputs the pairs read, and a little better for each
    3x3 separable convolution; it records its calls."""

    name = "darts_inputs"
    description = "counts what cells read"
    space = "darts"
    metrics = ("made_up",)

    def __init__(self):
        self.calls = []

    def measure(self, space, arch, metric, seed):
        self.calls.append(arch)
        return float(sum(0.1 * (op == "sep_conv_3x3") - j for cell in cell_sets(arch) for node in cell
                         for op, j in node))


def test_a_darts_search_spends_its_queries_on_neighbours(tmp_path, darts, register_plugin):
    oracle = Inputs()
    register_plugin(plugin_offering(register_oracles=[oracle]), "darts_oracle_plugin")
    # One cheap proxy and one repeat: what is tested is the queries, not the pruning.
    config = SearchConfig(space="darts", data="synthetic", repeats=1, seed=0, proxies=[("params", 1.0)],
                          executor="serial", options={"prune_number": 6})
    result = search(config, out=tmp_path / "q.h5", queries=3, oracle="darts_inputs", store=tmp_path / "s.h5")
    run = read(result.path)
    asked = [a["arch"] for a in run["answers"]]
    assert asked == oracle.calls and len(set(asked)) == 3 and asked[0] == run["searched"]
    answers = {a["arch"]: a["answer"] for a in run["answers"]}
    for n in (1, 2):  # each asked cell one edit from the best asked before it
        best = max(asked[:n], key=answers.get)
        assert asked[n] in {darts.format(near) for near in darts.neighbours(darts.parse(best))}
    assert result.architecture == max(asked, key=answers.get) == run["architecture"] != asked[0]
