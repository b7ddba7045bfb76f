"""TE-NAS search over the DARTS space yields valid genotypes (small settings, several seeds)."""

import json
import re

import pytest
import torch

from conftest import tenaskit
from tenas_kit import SearchConfig, search
from tenas_kit.runfile import read

OPS = {"max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"}


def assert_valid_genotype_text(text):
    """Independent check of the text: 2 distinct inputs per node from earlier nodes, no 'none'."""
    for cell in ("normal", "reduce"):
        body = re.search(rf"{cell}=\[(.*?)\]", text).group(1)
        pairs = re.findall(r"\('(\w+)', (\d+)\)", body)
        assert len(pairs) == 8
        for node in range(4):
            (op_a, in_a), (op_b, in_b) = pairs[2 * node : 2 * node + 2]
            assert op_a in OPS and op_b in OPS
            assert int(in_a) != int(in_b) and max(int(in_a), int(in_b)) < node + 2
        assert f"{cell}_concat=[2, 3, 4, 5]" in text


def darts_search(folder, seed):
    config = SearchConfig(space="darts", proxies=[("regions", 1.0)], data="synthetic", repeats=1, seed=seed,
                          options={"region_samples": 32})
    return search(config, out=folder / "darts.h5", workers=1)


@pytest.fixture(scope="module")
def seed_0(tmp_path_factory):
    """The seed-0 search, run once for the tests that read its result."""
    return darts_search(tmp_path_factory.mktemp("darts"), 0)


# Seeds 1 and 2 add minutes and no new code path: `pytest -m slow` runs them.
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_search_finds_a_valid_genotype(tmp_path, registry, seed, request):
    arch, path = request.getfixturevalue("seed_0") if seed == 0 else darts_search(tmp_path, seed)
    assert_valid_genotype_text(arch)
    space = registry.get("space", "darts")
    assert space.format(space.parse(arch)) == arch
    run = read(path)
    # 7 ops -> 4 -> 1 with prune number 3, then one edge round.
    assert [len(r["labels"]) for r in run["rounds"]] == [196, 112, 24]
    mask = space.arch_to_mask(space.parse(arch))
    assert (mask.sum(axis=2) <= 1).all() and mask.sum() == 16


def test_export_darts_and_json(seed_0):
    arch, path = seed_0
    text = tenaskit("export", path, "--format", "darts")
    assert text.returncode == 0 and text.stdout.strip() == arch
    payload = json.loads(tenaskit("export", path, "--format", "json").stdout)
    assert payload["space"] == "darts" and len(payload["normal"]) == 8 and payload["reduce_concat"] == [2, 3, 4, 5]
    params = tenaskit("inspect", "--space", "darts", "--genotype", arch)
    assert params.returncode == 0 and "parameters:" in params.stdout


def test_kappa_on_darts_supernet_equals_brute_force(registry):
    from conftest import brute_force_ntk
    from tenaskit_builtins.ntk.ntk import condition_number, empirical_ntk

    space = registry.get("space", "darts")
    mask = space.layout.full_mask()
    mask[..., 0] = False
    torch.manual_seed(0)
    net = space.network(mask, "supernet", 10).double().train()
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    kappa = condition_number(empirical_ntk(net, x, chunk=3))
    reference = condition_number(brute_force_ntk(net, x))
    assert abs(kappa - reference) / reference < 1e-5
