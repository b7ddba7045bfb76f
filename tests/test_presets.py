"""Presets: named weighted proxy sets with a combination rule, in rank and run."""

import math

import numpy as np
import pytest

import tenas_kit
from conftest import call, plugin_offering
from tenas_kit import SearchConfig
from tenas_kit.preset import log_rank_sum, rank_sum
from tenas_kit.runfile import read

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|",
]


def test_rank_sum_is_the_weighted_sum_of_ranks():
    assert rank_sum([[1, 2, 3], [3, 1, 2]], [1.0, 0.5]).tolist() == [2.5, 2.5, 4.0]


def test_log_rank_sum_follows_az_nas_worked_by_hand():
    # Ascending orders (worst 1, best 3): item 0 -> 3 and 1, item 1 -> 2 and 3, item 2 -> 1 and 2.
    expected = [-(math.log(3 / 3) + math.log(1 / 3)), -(math.log(2 / 3) + math.log(3 / 3)),
                -(math.log(1 / 3) + math.log(2 / 3))]
    np.testing.assert_allclose(log_rank_sum([[1, 2, 3], [3, 1, 2]], [1.0, 1.0]), expected)
    # Unlike the rank sum, a cell last on one proxy loses to a cell middling on both.
    assert np.argmin(log_rank_sum([[1, 2, 3], [3, 1, 2]], [1.0, 1.0])) == 1
    assert rank_sum([[1, 2, 3], [3, 2, 1]], [1.0, 1.0]).tolist() == [4, 4, 4]
    # The best possible item scores 0, printed as 0.0 in results files, not -0.0.
    assert not np.signbit(log_rank_sum([[1, 2]], [1.0])[0])


def test_a_preset_ranks_like_its_proxies_with_its_rule(tmp_path, registry):
    small = {"proxy_batch_size": 8}
    by_preset = SearchConfig(data="synthetic", repeats=1, options=dict(small))
    from tenas_kit.plan import apply_preset

    apply_preset(registry, by_preset, "best")
    spelled = SearchConfig(data="synthetic", repeats=1, options=dict(small), proxies=list(by_preset.proxies),
                           combine="log_rank_sum")
    a = tenas_kit.rank(by_preset, archs=CELLS, store=None, out=tmp_path / "a.csv", executor="serial")
    b = tenas_kit.rank(spelled, archs=CELLS, store=None, out=tmp_path / "b.csv", executor="serial")
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    columns = [(a.scores[p.name], True, w) for p, w in [(registry.get("proxy", n), w) for n, w in by_preset.proxies]]
    from scipy.stats import rankdata

    ranks = [rankdata(-values, method="min") for values, _, _ in columns]
    np.testing.assert_allclose(a.rank_sum, log_rank_sum(ranks, [w for _, _, w in columns]))


def test_a_plugin_preset_with_its_own_rule_drives_ranking_and_pruning(tmp_path, register_plugin):
    calls = []

    def last_proxy_only(ranks, weights):
        calls.append(len(ranks))
        return np.asarray(ranks[-1], dtype=float)

    class Mine:
        name, description = "mine", "params alone, by its own rule"
        proxies, combine, options = [("flops", 1.0), ("params", 1.0)], staticmethod(last_proxy_only), {}

    register_plugin(plugin_offering(register_presets=[Mine()]), "mine")
    config = SearchConfig(data="synthetic", repeats=1)
    from tenas_kit import plugins
    from tenas_kit.plan import apply_preset

    apply_preset(plugins.registry(), config, "mine")
    assert config.combine == "mine" and config.as_dict()["combine"] == "mine"
    ranking = tenas_kit.rank(config, archs=CELLS, store=None, executor="serial")
    from scipy.stats import rankdata

    np.testing.assert_array_equal(ranking.rank_sum, rankdata(-ranking.scores["params"], method="min"))
    _, path = tenas_kit.search(config, out=tmp_path / "run.h5", executor="serial")
    run = read(path)
    assert run["settings"]["pruner"]["tenas"]["combine"] == "mine"
    first = run["rounds"][0]["columns"]
    np.testing.assert_array_equal(first["importance"], first["rank_params"] + 1)  # the preset's rule decided
    assert calls


def test_tenas_rule_is_left_out_of_recorded_settings():
    assert "combine" not in SearchConfig().as_dict()
    assert SearchConfig(combine="log_rank_sum").as_dict()["combine"] == "log_rank_sum"


def test_preset_and_proxies_together_is_a_usage_error(tmp_path, capsys):
    code, _, err = call(capsys, "rank", "--preset", "best", "--proxies", "ntk", "--data", "synthetic",
                        "--sample", "2", "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv")
    assert code == 2 and "give --proxies or --preset, not both" in err


def test_an_unknown_preset_names_the_known_ones(tmp_path, capsys):
    code, _, err = call(capsys, "run", "--preset", "bets", "--data", "synthetic")
    assert code == 2 and "unknown preset 'bets'" in err and "Did you mean 'best'" in err


def test_plugins_lists_presets(capsys):
    code, out, _ = call(capsys, "plugins", "--json")
    assert code == 0 and '"kind": "preset"' in out and '"name": "best"' in out


@pytest.mark.parametrize("given, recorded", [((), 2), (("--repeats", "1"), 1)])
def test_a_presets_repeats_apply_unless_repeats_is_given(tmp_path, capsys, register_plugin, given, recorded):
    class Twice:
        name, description, repeats = "twice", "flops, measured twice", 2
        proxies, combine, options = [("flops", 1.0)], "rank_sum", {}

    register_plugin(plugin_offering(register_presets=[Twice()]), "twice")
    out = tmp_path / "run.h5"
    code, _, err = call(capsys, "run", "--preset", "twice", "--data", "synthetic", "--executor", "serial",
                        "--out", out, *given)
    assert code == 0, err
    run = read(out)
    assert run["config"]["repeats"] == recorded
    assert run["rounds"][0]["proxies"]["flops"]["values"].shape[0] == recorded


def test_a_preset_with_bad_repeats_names_its_plugin(registry):
    class Bad:
        name, description, repeats = "bad", "zero repeats", 0
        proxies, combine, options = [("flops", 1.0)], "rank_sum", {}

    from tenas_kit.errors import TenasError
    from tenas_kit.plan import apply_preset

    registry.entries["preset"]["bad"] = type(registry.entries["preset"]["best"])(Bad(), "bad")
    with pytest.raises(TenasError, match="preset 'bad' asks for 0 repeats"):
        apply_preset(registry, SearchConfig(), "bad")
