"""Independent checks of TE-NAS's two steps that other tests only check against the code's own helpers:
R_N counted with a set of tuples on the proxy's own weights and crops, and the pruning rule on a case
worked by hand, with weights other than 1 and ties that only the documented tie order resolves."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from tenas_kit.data import open_images
from tenas_kit.proxy import ProxyContext
from tenas_kit.pruner import Measurement
from tenas_kit.space import Layout

torch.set_num_threads(1)

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|"


def context(registry, proxy_name, mask, options, data="embedded", seed=0, round_index=0, repeat=0):
    """The context a search hands a proxy, built from public pieces (no engine internals)."""
    space, dataset = registry.get("space", "nb201"), registry.get("dataset", "cifar10")
    proxy = registry.get("proxy", proxy_name)
    settings = proxy.settings(options, space.defaults(dataset.name))
    images = open_images(registry, data, dataset)
    ctx = ProxyContext(space, mask, dataset, images, torch.device("cpu"), options, seed, round_index, repeat,
                       proxy.name, settings)
    return proxy, ctx


# ---- R_N: the proxy against a plain count ------------------------------------------------------

def plain_crops(ctx):
    """The inputs R_N is defined on (TENAS.md 1): per sample one channel, one 3x3 window of an
    unaugmented image, drawn channel, row, column from the proxy's 'crops' stream; batch b holds the
    images of stream 'images{b}'. Indexed one sample at a time, not with the proxy's gather."""
    s, rng = ctx.settings, ctx.rng("crops")
    k, out = s["crop"], []
    for b in range(s["batches"]):
        images = ctx.batch(s["samples"], stream=f"images{b}", augmented=False).numpy()
        n, channels, h, w = images.shape
        c = rng.integers(0, channels, size=n)
        y = rng.integers(0, h - k + 1, size=n)
        x = rng.integers(0, w - k + 1, size=n)
        out.append(np.stack([images[i, c[i], y[i]:y[i] + k, x[i]:x[i] + k] for i in range(n)])[:, None])
    return out


def plain_region_count(network, batches):
    """Distinct sign patterns of every ReLU on a 4-D tensor, as Python tuples in a set."""
    patterns = set()
    for batch in batches:
        outputs = []
        hooks = [m.register_forward_hook(lambda m, args, out: outputs.append(out) if args[0].dim() == 4 else None)
                 for m in network.modules() if isinstance(m, nn.ReLU)]
        try:
            with torch.no_grad():
                network(torch.from_numpy(batch))  # one forward per batch: train-mode BN sees that batch alone
        finally:
            for hook in hooks:
                hook.remove()
        assert outputs, "the thin network has no ReLU on a 4-D tensor: nothing to count"
        for i in range(len(batch)):
            patterns.add(tuple(bool(v) for out in outputs for v in (out[i] > 0).flatten().tolist()))
    return len(patterns)


def test_regions_proxy_equals_a_plain_count_of_distinct_patterns(registry):
    space = registry.get("space", "nb201")
    supernet = space.layout.full_mask()
    supernet[..., space.layout.ops.index("none")] = False  # a search's first round: every op but 'none'
    single = space.arch_to_mask(space.parse(ARCH))
    proxy, ctx = context(registry, "regions", supernet, {"region_samples": 300})
    score = proxy.prepare(ctx)
    # The same weights: the context derives them from (seed, proxy, role, round), so a second build
    # equals the one the proxy holds.
    network = ctx.network("thin", fan_mode="fan_in", in_channels=1)
    crops = plain_crops(ctx)
    assert [c.shape for c in crops] == [(300, 1, 3, 3)] * 3
    for mask in (supernet, single):
        network.mask = mask
        expected = plain_region_count(network, crops)
        # Not saturated and not degenerate, so a lost unit, batch or sample changes the count.
        assert 10 < expected < 900
        assert score(mask) == float(expected)


# ---- the TE-NAS pruning rule on a case worked by hand -------------------------------------------

class ToySpace:
    name = "toy"
    layout = Layout(("cell",), ("e0", "e1"), ("none", "a", "b", "c", "d"))


def hand_case():
    """Seven candidates: e0 holds a, b, c, d (candidates 0-3), e1 holds a, b, c (4-6).

    kappa (ntk, lower is better, weight 2), base 100; change = (100 - value) / 100, ranked
    descending (rank 0: removing the op lowers kappa most), equal changes share a dense rank:
        candidate   0     1     2     3     4     5     6
        value      70    90   110    80    80   100   120
        change    0.3   0.1  -0.1   0.2   0.2   0.0  -0.2
        rank        0     2     4     1     1     3     5
        order of the sort (stable): 0, 3, 4, 1, 5, 2, 6
    R (regions, higher is better, weight 0.5), base 1000, ranked ascending (rank 0: removing it loses
    the fewest regions):
        value     980  1000   970   960  1000   990   950
        change   0.02  0.00  0.03  0.04  0.00  0.01  0.05
        rank        2     0     3     4     0     1     5
    importance = 2 * rank_ntk + 0.5 * rank_regions:
                    1     4   9.5     4     2   6.5  12.5
    Candidates 1 and 3 (both on e0) tie at 4. The rule breaks a tie by the first proxy's sort order,
    as the reference's stable sort does: 3 (position 1) before 1 (position 3). By importance, then that
    order: 0, 4, 3, 1, 5, 2, 6. With prune_number 2, e0 may lose 2 of its 4 ops and e1 2 of its 3:
        0 (e0: 1st) removed, 4 (e1: 1st) removed, 3 (e0: 2nd) removed, 1 (e0 full) kept,
        5 (e1: 2nd) removed, 2 and 6 kept.
    Removed: 0, 3, 4, 5. e0 keeps b, c; e1 keeps c.
    Breaking the tie by candidate index, or by the regions order (1 before 3), removes 1 instead of 3;
    equal weights give importance 2 2 7 5 1 4 10 and remove 0 and 1 on e0.
    """
    mask = np.zeros((1, 2, 5), dtype=bool)
    mask[0, 0, 1:] = True
    mask[0, 1, 1:4] = True
    ntk = Measurement("ntk", False, 2.0, np.array([100.0]), np.array([[70, 90, 110, 80, 80, 100, 120.0]]))
    regions = Measurement("regions", True, 0.5, np.array([1000.0]),
                          np.array([[980, 1000, 970, 960, 1000, 990, 950.0]]))
    return mask, [ntk, regions]


def test_pruning_rule_on_a_hand_worked_case_with_weights_and_ties(registry):
    pruner, space = registry.get("pruner", "tenas"), ToySpace()
    mask, measurements = hand_case()
    settings = {"prune_number": 2}
    candidates = pruner.candidates(space, mask, settings)
    assert [c.key for c in candidates] == [(0, 0, 1), (0, 0, 2), (0, 0, 3), (0, 0, 4), (0, 1, 1), (0, 1, 2), (0, 1, 3)]
    decision = pruner.decide(space, mask, candidates, measurements, settings)
    np.testing.assert_allclose(decision.columns["change_ntk"], [0.3, 0.1, -0.1, 0.2, 0.2, 0.0, -0.2])
    assert list(decision.columns["rank_ntk"]) == [0, 2, 4, 1, 1, 3, 5]
    assert list(decision.columns["rank_regions"]) == [2, 0, 3, 4, 0, 1, 5]
    assert list(decision.columns["importance"]) == [1, 4, 9.5, 4, 2, 6.5, 12.5]
    assert decision.removed == [0, 3, 4, 5]
    assert list(decision.columns["removed"]) == [True, False, False, True, True, True, False]
    assert decision.mask[0, 0].tolist() == [False, False, True, True, False]  # e0 keeps b, c
    assert decision.mask[0, 1].tolist() == [False, False, False, True, False]  # e1 keeps c


@pytest.mark.parametrize("weights, removed", [
    # Equal weights: importance 2 2 7 5 1 4 10; e0's tie (0 and 1 at 2) is cut by the quota of 2 anyway.
    ((1.0, 1.0), [0, 1, 4, 5]),
    # Regions weighted up: importance 4 1 8 8.5 0.5 3.5 12.5; e0 drops 1 then 0.
    ((0.5, 2.0), [0, 1, 4, 5]),
])
def test_other_weights_change_the_hand_worked_outcome(registry, weights, removed):
    pruner, space = registry.get("pruner", "tenas"), ToySpace()
    mask, (ntk, regions) = hand_case()
    ntk.weight, regions.weight = weights
    candidates = pruner.candidates(space, mask, {"prune_number": 2})
    decision = pruner.decide(space, mask, candidates, [ntk, regions], {"prune_number": 2})
    assert decision.removed == removed


def test_tie_order_follows_the_first_proxy_listed(registry):
    """Listing regions first makes its order break the e0 tie: 1 (regions position 0) before 3."""
    pruner, space = registry.get("pruner", "tenas"), ToySpace()
    mask, (ntk, regions) = hand_case()
    candidates = pruner.candidates(space, mask, {"prune_number": 2})
    decision = pruner.decide(space, mask, candidates, [regions, ntk], {"prune_number": 2})
    # Importance is unchanged (1 4 9.5 4 2 6.5 12.5); regions' stable order is 1, 4, 5, 0, 2, 3, 6.
    assert decision.removed == [0, 1, 4, 5]
