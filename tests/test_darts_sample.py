"""DARTS populations: genotypes drawn uniformly and validly, equivalent genotypes ranked once."""

import itertools
from collections import Counter

import numpy as np
import pytest
from scipy.stats import chisquare

from tenas_kit import SearchConfig, lifecycle

NODES = (2, 3, 4, 5)
OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


@pytest.fixture
def darts(registry):
    return registry.get("space", "darts")


def draws(darts, count, seed=0):
    rng = np.random.default_rng(seed)
    return [darts.sample(rng) for _ in range(count)]


def test_every_drawn_genotype_is_valid_and_reads_back(darts):
    for arch in draws(darts, 500):
        text = darts.format(arch)
        assert darts.parse(text) == arch
        assert darts.mask_to_arch(darts.arch_to_mask(arch)) == arch  # two edges a node, one op each
        for cell in ("normal", "reduce"):
            pairs = getattr(arch, cell)
            for k, node in zip(NODES, (pairs[i:i + 2] for i in range(0, 8, 2))):
                (op_a, a), (op_b, b) = node
                assert 0 <= a < b < k and op_a in OPS and op_b in OPS


def test_draws_are_uniform_over_inputs_and_ops(darts):
    """Chi-square against the uniform distribution on a few thousand draws (seeded, so not flaky): the input
    pairs of the widest node, the ops, and node 3's pair jointly with its first op, in both cell types."""
    archs = draws(darts, 4200, seed=7)
    for cell in ("normal", "reduce"):
        node5 = Counter(tuple(j for _, j in getattr(a, cell)[6:8]) for a in archs)
        pairs = list(itertools.combinations(range(5), 2))
        assert set(node5) == set(pairs)
        assert chisquare([node5[p] for p in pairs]).pvalue > 1e-3
        ops = Counter(op for a in archs for op, _ in getattr(a, cell))
        assert set(ops) == set(OPS)  # 'none' never
        assert chisquare([ops[o] for o in OPS]).pvalue > 1e-3
        joint = Counter((getattr(a, cell)[2][1], getattr(a, cell)[3][1], getattr(a, cell)[2][0]) for a in archs)
        cells = [(a, b, o) for a, b in itertools.combinations(range(3), 2) for o in OPS]
        assert set(joint) == set(cells)
        assert chisquare([joint[c] for c in cells]).pvalue > 1e-3


def test_a_nodes_two_inputs_in_either_order_are_one_genotype(darts):
    arch = draws(darts, 1, seed=3)[0]
    normal = list(arch.normal)
    normal[4], normal[5] = normal[5], normal[4]  # node 4 lists its inputs the other way round
    swapped = darts.parse(darts.format(arch._replace(normal=tuple(normal))))
    assert darts.format(swapped) != darts.format(arch)
    assert darts.canonical(swapped) == darts.canonical(arch) == darts.format(arch)
    others = {darts.canonical(a) for a in draws(darts, 200, seed=4)}
    assert len(others) == 200  # distinct genotypes keep distinct keys
    assert all(darts.format(darts.parse(key)) == key for key in others)  # a key is a genotype, ready for export


def test_a_ranking_of_drawn_darts_cells_scores_equivalent_genotypes_once(darts, tmp_path):
    config = SearchConfig(space="darts", proxies=[("params", 1.0)], data="synthetic", repeats=1, executor="serial")
    texts = lifecycle.choose_archs(darts, sample=6, seed=2)
    arch = darts.parse(texts[0])
    normal = list(arch.normal)
    normal[0], normal[1] = normal[1], normal[0]
    texts.append(darts.format(arch._replace(normal=tuple(normal))))
    ranking = lifecycle.Ranking(config, texts, store=None).run()
    assert ranking.unique == 6 and ranking.computed == 6
    assert len(ranking.archs) == 7
    first, copy = ranking.archs.index(texts[0]), ranking.archs.index(texts[-1])
    assert ranking.scores["params"][first] == ranking.scores["params"][copy]
