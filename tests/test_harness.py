"""The harness for plugin authors (``tenas_kit.testing``): what it hands a plugin is what the commands do."""

import numpy as np
import pytest

from conftest import plugin_offering
from tenas_kit.errors import TenasError
from tenas_kit.pruner import Candidate, Decision
from tenas_kit.testing import Harness

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"


def logit_sum(ctx, mask):
    """A number that changes with the weights, the batch and the mask a context gives."""
    import torch

    network = ctx.network("supernet")
    network.mask = mask
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as jobs score: other thread counts change the float32 sums' last bits
    try:
        with torch.no_grad():
            return float(network(ctx.batch(3)).double().sum())
    finally:
        torch.set_num_threads(threads)


class LogitSum:
    name = "logit_sum"
    description = "sum of the supernet's logits on three images (test proxy)"
    higher_is_better = True

    def settings(self, options, space_defaults):
        return {"init": options.get("init") or "pytorch"}

    def prepare(self, ctx):
        return lambda mask: logit_sum(ctx, mask)


@pytest.fixture
def harness():
    with Harness(plugins=[plugin_offering(register_proxies=[LogitSum()])]) as opened:
        yield opened


def test_a_cells_context_is_the_one_rank_prepares_the_proxy_with(harness):
    ctx = harness.context("logit_sum", CELL)
    assert logit_sum(ctx, ctx.mask) == harness.score("logit_sum", CELL)
    assert harness.score("logit_sum", CELL, seed=1) != harness.score("logit_sum", CELL)


def test_a_masks_context_is_the_one_a_search_round_measures_with(harness):
    first = harness.prune_round("logit_sum")
    ctx = harness.context("logit_sum", first.mask)
    measured = first.measurements[0]
    assert logit_sum(ctx, first.mask) == measured.base[0]
    assert [logit_sum(ctx, c.mask) for c in first.candidates] == list(measured.values[0])
    assert first.decision.removed and not np.array_equal(first.decision.mask, first.mask)


def test_the_fixture_forgets_its_plugins_after_the_test(tenaskit_harness):
    from tenas_kit import plugins

    tenaskit_harness.use(plugin_offering(register_proxies=[LogitSum()]))
    assert "logit_sum" in tenaskit_harness.registry.names("proxy")
    tenaskit_harness.close()
    assert "logit_sum" not in plugins.registry().names("proxy") and "ntk" in plugins.registry().names("proxy")


def test_a_plugin_that_breaks_its_contract_is_refused_with_the_reason(harness):
    class NoPrepare:
        name, description, higher_is_better = "half", "no prepare", True

        def settings(self, options, space_defaults):
            return {}

    with pytest.raises(TenasError, match="without prepare"):
        harness.use(plugin_offering(register_proxies=[NoPrepare()]), "half_done")


def test_a_plugin_file_is_used_as_plugin_takes_it(harness, tmp_path):
    from conftest import SCORER

    path = tmp_path / "seven.py"
    path.write_text(SCORER.format(name="seven", body="            return 7"))
    assert harness.use(str(path)).score("seven", CELL) == 7.0


def test_a_scorer_failure_names_the_proxy_as_the_commands_do(harness, tmp_path):
    from conftest import SCORER
    from tenas_kit.errors import TenasRuntimeError

    path = tmp_path / "text.py"
    path.write_text(SCORER.format(name="text", body="            return 'high'"))
    with pytest.raises(TenasRuntimeError, match="proxy 'text' from plugin 'text'.*returned 'high'"):
        harness.use(str(path)).score("text", CELL)


class InPlace:
    """Removes an op by writing into the mask it was given (what the docs forbid)."""

    name, description = "in_place", "prunes the round's mask in place (test pruner)"

    def settings(self, options, space_defaults):
        return {}

    def start(self, space, mask, settings):
        return mask.copy()

    def candidates(self, space, mask, settings):
        moved = mask.copy()
        moved[0, 0, 0] = False
        return [Candidate((0, 0, 0), "cell/1<-0/none", moved)] if mask[0, 0, 0] else []

    def decide(self, space, mask, candidates, measurements, settings):
        mask[0, 0, 0] = False
        return Decision(mask, [0])


def test_a_pruner_that_writes_into_the_rounds_mask_fails_at_the_write(harness):
    harness.use(plugin_offering(register_pruners=[InPlace()]), "in_place")
    with pytest.raises(ValueError, match="read-only"):
        harness.prune_round("logit_sum", pruner="in_place")
