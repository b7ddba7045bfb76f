import numpy as np
import pytest

from tenas_kit.pruner import Measurement
from tenas_kit.space import Layout
from tenaskit_builtins.tenas import TenasPruner


class ToySpace:
    name = "toy"

    def __init__(self, edge_groups=()):
        self.layout = Layout(("cell",), ("e0", "e1", "e2"), ("none", "a", "b", "c"), edge_groups)


def start_mask():
    mask = np.zeros((1, 3, 4), dtype=bool)
    mask[0, 0, 1:] = True  # e0: a, b, c
    mask[0, 1, 1:3] = True  # e1: a, b
    mask[0, 2, 1] = True  # e2: a only (no choice)
    return mask


def measurements(ntk_weight=1.0, regions_weight=1.0):
    # Candidate order: e0/a, e0/b, e0/c, e1/a, e1/b.
    ntk = Measurement("ntk", False, ntk_weight, np.array([100.0]), np.array([[80, 100, 120, 90, 110.0]]))
    regions = Measurement("regions", True, regions_weight, np.array([1000.0]), np.array([[990, 1000, 900, 950, 1000.0]]))
    return [ntk, regions]


def decide(prune_number=1, **weights):
    pruner, space = TenasPruner(), ToySpace()
    mask = start_mask()
    candidates = pruner.candidates(space, mask, {"prune_number": prune_number})
    assert [c.key for c in candidates] == [(0, 0, 1), (0, 0, 2), (0, 0, 3), (0, 1, 1), (0, 1, 2)]
    return candidates, pruner.decide(space, mask, candidates, measurements(**weights), {"prune_number": prune_number})


def test_start_removes_none_everywhere():
    space = ToySpace()
    mask = TenasPruner().start(space, space.layout.full_mask(), {"prune_number": 1})
    assert not mask[..., 0].any() and mask[..., 1:].all()


def test_ranks_and_rank_sum_on_hand_made_scores():
    _, decision = decide()
    assert list(decision.columns["rank_ntk"]) == [0, 2, 4, 1, 3]
    assert list(decision.columns["rank_regions"]) == [1, 0, 3, 2, 0]
    assert list(decision.columns["importance"]) == [1, 2, 7, 3, 3]
    # e0 drops its lowest sum (a); e1 ties 3-3 and keeps the kappa order, dropping a.
    assert decision.removed == [0, 3]
    assert decision.mask[0, 0].tolist() == [False, False, True, True]
    assert decision.mask[0, 1].tolist() == [False, False, True, False]
    assert decision.mask[0, 2].tolist() == [False, True, False, False]


def test_never_prunes_the_last_op_of_an_edge():
    _, decision = decide(prune_number=5)
    assert decision.mask.sum(axis=2).tolist() == [[1, 1, 1]]
    assert decision.mask[0, 0].tolist() == [False, False, False, True]  # c has the highest rank sum


@pytest.mark.parametrize("weights,removed", [({"regions_weight": 0.0}, [0, 3]), ({"ntk_weight": 0.0}, [1, 4])])
def test_weighted_rank_sum(weights, removed):
    _, decision = decide(**weights)
    assert decision.removed == removed


def test_edge_phase_keeps_the_most_important_edges_per_group():
    pruner = TenasPruner()
    space = ToySpace(edge_groups=(((0, 1, 2), 2),))
    mask = np.zeros((1, 3, 4), dtype=bool)
    mask[0, :, 1] = True
    assert pruner.op_candidates(space, mask) == []
    candidates = pruner.candidates(space, mask, {"prune_number": 1})
    assert [c.key for c in candidates] == [(0, 0), (0, 1), (0, 2)]
    ntk = Measurement("ntk", False, 1.0, np.array([10.0]), np.array([[12.0, 8.0, 11.0]]))
    regions = Measurement("regions", True, 1.0, np.array([100.0]), np.array([[50.0, 99.0, 90.0]]))
    decision = pruner.decide(space, mask, candidates, [ntk, regions], {"prune_number": 1})
    assert decision.removed == [1]  # removing e1 lowers kappa and keeps regions: least important
    assert decision.mask[0, :, 1].tolist() == [True, False, True]
    assert pruner.candidates(space, decision.mask, {"prune_number": 1}) == []
