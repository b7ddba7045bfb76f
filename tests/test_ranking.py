import numpy as np
import pytest

from tenaskit_builtins.tenas.rules import relative_change, round_significant, sorted_dense_ranks


def test_round_significant():
    assert round_significant(0.123456) == pytest.approx(0.123)
    assert round_significant(-1234.5) == pytest.approx(-1230)
    assert round_significant(0) == 0


def test_dense_ranks_with_ties():
    ranks, order = sorted_dense_ranks([0.5, 0.2, 0.5, 0.9], descending=True)
    assert list(ranks) == [1, 2, 1, 0]
    assert order == [3, 0, 2, 1]
    ranks, _ = sorted_dense_ranks([0.5, 0.2, 0.5, 0.9], descending=False)
    assert list(ranks) == [1, 0, 1, 2]


def test_values_equal_after_rounding_but_not_exactly_take_consecutive_ranks_in_input_order():
    # 1.2345 and 1.2341 both round to 1.23: the stable sort keeps input order, ranks still differ.
    ranks, order = sorted_dense_ranks([1.2341, 1.2345, 5.0], descending=True)
    assert order == [2, 0, 1]
    assert list(ranks) == [1, 2, 0]


def test_relative_change_rounds_each_repeat_then_averages():
    base = [10.0, 20.0]
    values = [[9.0, 10.00049], [18.0, 20.0]]
    change = relative_change(base, values)
    assert change == pytest.approx([0.1, 0.0])
    assert relative_change([3.0], [[2.0]])[0] == pytest.approx(0.333)


def test_correlations_match_hand_computed_values():
    from tenas_kit.analysis.correlation import correlations

    # 4 items, one discordant pair of 6: tau = (5 - 1) / 6; rho = 1 - 6 * (1 + 1) / (4 * 15) = 0.8
    result = correlations([1, 2, 3, 4], [1, 3, 2, 4], resamples=200)
    assert result["tau"] == pytest.approx(4 / 6)
    assert result["rho"] == pytest.approx(0.8)
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    wide = correlations(x, x + rng.normal(size=60), resamples=300)
    assert wide["tau_low"] < wide["tau"] < wide["tau_high"] and wide["tau"] > 0.3
    assert correlations([1, 2, float("nan"), 4], [1, 2, 3, 4], resamples=200)["n"] == 3


def test_non_finite_values_rank_last():
    ranks, order = sorted_dense_ranks([0.5, float("nan"), 0.9, float("inf")], descending=True)
    assert order[:2] == [2, 0] and list(ranks) == [1, 2, 0, 2]


def test_weighted_rank_sum_on_hand_made_scores():
    from tenas_kit.ranker import weighted_rank_sum

    kappa = [30.0, 10.0, 20.0, float("nan")]  # lower is better: ranks 3, 1, 2, 4 (NaN last)
    regions = [500.0, 100.0, 500.0, 900.0]  # higher is better: ranks 2, 4, 2, 1 (ties share the lowest)
    synflow = [1.0, 2.0, 3.0, float("inf")]  # higher is better, but inf is not a score: ranks 3, 2, 1, 4
    total = weighted_rank_sum([(kappa, False, 1.0), (regions, True, 1.0), (synflow, True, 0.5)])
    assert total.tolist() == [3 + 2 + 1.5, 1 + 4 + 1.0, 2 + 2 + 0.5, 4 + 1 + 2.0]
    assert weighted_rank_sum([(kappa, False, 1.0), (regions, True, 0.0)]).tolist() == [3, 1, 2, 4]
