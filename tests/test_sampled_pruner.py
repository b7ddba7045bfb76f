"""The sampled pruner: cells drawn in equal shares, ops judged by the mean combined rank of their cells."""

import numpy as np
import pytest
from scipy.stats import rankdata

from tenas_kit.pruner import Candidate, Measurement
from tenas_kit.space import Layout
from tenaskit_builtins.sampled import SampledPruner, rng_for, sample_cells

LAYOUT = Layout(("cell",), ("e0", "e1", "e2"), ("none", "a", "b", "c"))
A, B, C = 1, 2, 3


class ToySpace:
    name = "toy"
    layout = LAYOUT


def start_mask():
    mask = np.zeros((1, 3, 4), dtype=bool)
    mask[0, 0, [A, B, C]] = True  # e0: a, b, c
    mask[0, 1, [A, B]] = True  # e1: a, b
    mask[0, 2, A] = True  # e2: a only
    return mask


def cell(e0, e1):
    mask = np.zeros((1, 3, 4), dtype=bool)
    mask[0, 0, e0] = mask[0, 1, e1] = mask[0, 2, A] = True
    return mask


# Six cells (e0, e1) and two proxies worked by hand in the comments below.
CELLS = [cell(A, A), cell(A, B), cell(B, A), cell(B, B), cell(C, A), cell(C, B)]


def measured(q_weight=1.0):
    # p, higher better: 5 6 1 2 3 2 -> dense ranks (1 the best) 2 1 5 4 3 4 (cells 3 and 5 tie)
    p = Measurement("p", True, 1.0, np.array([0.0]), np.array([[5, 6, 1, 2, 3, 2.0]]))
    # q, lower better: 10 10 20 40 50 60 -> dense ranks 1 1 2 3 4 5 (cells 0 and 1 tie)
    q = Measurement("q", False, q_weight, np.array([0.0]), np.array([[10, 10, 20, 40, 50, 60.0]]))
    return [p, q]


def decide(settings, measurements):
    candidates = [Candidate((i,), f"cell {i}", m) for i, m in enumerate(CELLS)]
    return SampledPruner().decide(ToySpace(), start_mask(), candidates, measurements, settings)


def test_rank_sum_worked_by_hand_with_a_tie():
    decision = decide({"prune_number": 1}, measured())
    # Rank sums 3 2 7 7 7 9. e0: a (3+2)/2 = 2.5, b 7, c 8 -> c goes.
    # e1: a (3+7+7)/3 = 5.67, b (2+7+9)/3 = 6 -> b goes, though the best cell (2) uses it: the mean
    # judges an op, not its luckiest cell. e2 has no choice.
    assert decision.columns["combined_rank"].tolist() == [3, 2, 7, 7, 7, 9]
    assert decision.pruned == ["cell/e0/c", "cell/e1/b"]
    assert decision.mask[0].tolist() == [[False, True, True, False], [False, True, False, False],
                                         [False, True, False, False]]


def test_weights_and_prune_number():
    # q weighted 5: sums 2+5, 1+5, 5+10, 4+15, 3+20, 4+25 = 7 6 15 19 23 29.
    # e0: a 6.5, b 17, c 26 -> c. e1: a (7+15+23)/3 = 15, b (6+19+29)/3 = 18 -> b.
    # With prune_number 2, e0 also drops b (17 > 6.5) and keeps a.
    decision = decide({"prune_number": 2}, measured(q_weight=5.0))
    assert decision.columns["combined_rank"].tolist() == [7, 6, 15, 19, 23, 29]
    assert decision.pruned == ["cell/e0/b", "cell/e0/c", "cell/e1/b"]
    assert decision.mask[0, 0].tolist() == [False, True, False, False]


def test_log_rank_sum_matches_an_independent_computation():
    rng = np.random.default_rng(3)
    values = [rng.normal(size=6), rng.integers(0, 3, size=6).astype(float)]  # the second with ties
    measurements = [Measurement("p", True, 1.0, np.zeros(1), values[0][None]),
                    Measurement("q", False, 2.0, np.zeros(1), values[1][None])]
    decision = decide({"prune_number": 1, "combine": "log_rank_sum"}, measurements)
    # Independently: dense ranks with scipy (1 the best), AZ-NAS's sum of log(order / n), worst first.
    best_first = [rankdata(-values[0], method="dense"), rankdata(values[1], method="dense")]
    score = -sum(w * np.log((6 + 1 - r) / 6) for w, r in zip((1.0, 2.0), best_first))
    assert np.allclose(decision.columns["combined_rank"], score)
    edges = np.array([[np.flatnonzero(c[0, e])[0] for e in range(2)] for c in CELLS])
    expected = []
    for e, name in ((0, "e0"), (1, "e1")):
        ops = sorted(set(edges[:, e]))
        means = {op: score[edges[:, e] == op].mean() for op in ops}
        worst = max(ops, key=lambda op: (means[op], op))
        expected.append(f"cell/{name}/{LAYOUT.ops[worst]}")
    assert decision.pruned == expected


def test_samples_draw_every_alive_op_equally_often_and_one_op_per_edge():
    mask = start_mask()
    cells = sample_cells(mask, 12, np.random.default_rng(0))
    assert cells.shape == (12, 1, 3, 4)
    assert not (cells & ~mask).any()  # only alive ops
    assert (cells.sum(axis=3) == 1).all()  # one op on every edge
    assert cells[:, 0, 0].sum(axis=0).tolist() == [0, 4, 4, 4]
    assert cells[:, 0, 1].sum(axis=0).tolist() == [0, 6, 6, 0]


def test_the_draw_is_fixed_by_seed_and_round():
    mask = start_mask()
    first = sample_cells(mask, 12, rng_for(mask, 5))
    assert (first == sample_cells(mask, 12, rng_for(mask, 5))).all()  # a resumed round draws the same cells
    assert (first != sample_cells(mask, 12, rng_for(mask, 6))).any()
    narrowed = mask.copy()
    narrowed[0, 0, C] = False
    assert rng_for(narrowed, 5).integers(1 << 30) != rng_for(mask, 5).integers(1 << 30)


def test_candidates_are_cells_until_every_edge_holds_one_op():
    pruner, space = SampledPruner(), ToySpace()
    settings = pruner.settings({"seed": 1, "prune_samples": 8}, {})
    assert settings == {"prune_number": 1, "samples": 8, "seed": 1}
    found = pruner.candidates(space, start_mask(), settings)
    assert [c.key for c in found] == [(i,) for i in range(8)]
    single = start_mask()
    single[0, 0, [B, C]] = single[0, 1, B] = False
    assert pruner.candidates(space, single, settings) == []  # no edge groups: the search ends


@pytest.mark.parametrize("bad", [{"prune_samples": 1}])
def test_too_few_samples_is_a_usage_error(bad):
    import click

    option = next(o for o in SampledPruner.cli_options if o.name == "prune_samples")
    with pytest.raises(click.BadParameter):
        option.type.convert(bad["prune_samples"], option, None)


def test_a_search_with_the_sampled_pruner_records_what_it_pruned_and_repeats_exactly(tmp_path):
    import tenas_kit
    from tenas_kit import SearchConfig
    from tenas_kit.runfile import read

    def search(name, seed):
        config = SearchConfig(proxies=[("flops", 1.0), ("synflow", 1.0)], pruner="sampled", data="synthetic",
                              repeats=1, seed=seed, options={"prune_samples": 10})
        _, path = tenas_kit.search(config, out=tmp_path / name, executor="serial")
        return read(path)

    first, again, other = search("a.h5", 3), search("b.h5", 3), search("c.h5", 4)
    assert first["settings"]["pruner"]["sampled"] == {"prune_number": 1, "samples": 10, "seed": 3}
    assert len(first["rounds"]) == 3  # NB201: none removed at the start, then 4 ops to 1 on every edge
    for round_ in first["rounds"]:
        assert round_["labels"] == [f"cell {i}" for i in range(10)]
        assert len(round_["pruned"]) == 6 and all(p.count("/") == 2 for p in round_["pruned"])  # one op per edge
    assert first["architecture"] == again["architecture"]
    for a, b in zip(first["rounds"], again["rounds"]):
        assert a["pruned"] == b["pruned"]
        assert (a["proxies"]["synflow"]["values"] == b["proxies"]["synflow"]["values"]).all()
    assert any((a["proxies"]["flops"]["values"] != b["proxies"]["flops"]["values"]).any()
               for a, b in zip(first["rounds"], other["rounds"]))  # another seed draws other cells
