"""The example proxy's own tests, through tenas-kit's harness (the fixture ``tenaskit_harness``): no CLI.

``use()`` adds the plugin in this process, so the tests run whether or not the package is installed.
"""

import math

import tenaskit_example_proxy

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"


def test_a_cell_scores_the_norm_of_its_networks_weights(tenaskit_harness):
    harness = tenaskit_harness.use(tenaskit_example_proxy)
    # The network rank scores this cell on; it holds only the cell's ops, and all of them run.
    network = harness.context("weightnorm", CELL).network("supernet")
    expected = math.sqrt(sum(float((p.detach() ** 2).sum()) for n, p in network.named_parameters() if "weight" in n))
    assert math.isclose(harness.score("weightnorm", CELL), expected, rel_tol=1e-12)


def test_removing_an_op_removes_its_weights(tenaskit_harness):
    harness = tenaskit_harness.use(tenaskit_example_proxy)
    first = harness.prune_round("weightnorm")  # TE-NAS's first round on the NB201 supernet
    norm = first.measurements[0]
    for candidate, value in zip(first.candidates, norm.values[0]):
        weightless = candidate.label.endswith(("skip_connect", "avg_pool_3x3"))
        assert value == norm.base[0] if weightless else value < norm.base[0]
    assert (first.decision.mask.sum(axis=2) == 3).all()  # one op of four pruned on every edge


def test_scores_repeat_exactly(tenaskit_harness):
    harness = tenaskit_harness.use(tenaskit_example_proxy)
    assert harness.score("weightnorm", CELL) == harness.score("weightnorm", CELL, seed=0)
    assert harness.score("weightnorm", CELL) != harness.score("weightnorm", CELL, seed=1)
