import itertools

import numpy as np
import pytest
import torch

from tenas_kit.errors import TenasError
from tenaskit_builtins.nb201.ops import OPS

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def all_strings():
    for ops in itertools.product(OPS, repeat=6):
        yield f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"


def test_every_architecture_string_round_trips(nb201):
    seen = set()
    for text in all_strings():
        arch = nb201.parse(text)
        assert nb201.format(arch) == text
        mask = nb201.arch_to_mask(arch)
        assert nb201.mask_to_arch(mask) == arch
        seen.add(text)
    assert len(seen) == 15625


@pytest.mark.parametrize(
    "bad",
    ["", "|nor_conv_3x3~0|", "|conv~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
     "|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
     "nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"],
)
def test_malformed_strings_raise_a_clear_error(nb201, bad):
    with pytest.raises(TenasError, match="malformed NAS-Bench-201 architecture"):
        nb201.parse(bad)


def test_evaluation_network_of_best_architecture_has_published_parameter_count(nb201):
    net = nb201.network(nb201.arch_to_mask(nb201.parse(BEST)), "evaluation", 10)
    assert sum(p.numel() for p in net.parameters()) == 1_073_466
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_mask_narrowing_keeps_weights_and_changes_output(nb201):
    mask = nb201.layout.full_mask()
    mask[..., 0] = False
    torch.manual_seed(0)
    net = nb201.network(mask, "supernet", 10).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(4, 3, 32, 32)
    full = net(x)
    narrowed = mask.copy()
    narrowed[0, 0, 3] = False
    net.mask = narrowed
    assert not torch.allclose(full, net(x))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_supernet_edge_is_mean_of_alive_ops(nb201):
    # One edge with skip and avg-pool alive must output the mean of identity and pooling.
    from tenaskit_builtins.nb201.network import Cell

    alive = np.zeros((6, 5), dtype=bool)
    alive[:, 1] = True  # skip everywhere
    alive[0, 4] = True  # edge 1<-0 also has avg_pool
    cell = Cell(2, alive)
    x = torch.randn(1, 2, 5, 5)
    pool = torch.nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    node1 = (x + pool(x)) / 2
    node2 = x + node1
    expected = x + node1 + node2
    assert torch.allclose(cell(x, alive), expected, atol=1e-6)


def test_single_path_required_for_architecture(nb201):
    with pytest.raises(TenasError, match="single path"):
        nb201.mask_to_arch(nb201.layout.full_mask())


def test_isomorphism_key_finds_the_6466_unique_cells(nb201):
    keys = {nb201.canonical(nb201.parse(text)) for text in all_strings()}
    assert len(keys) == 6466
    # A skip connection is its input: reading node 1 is reading node 0.
    a = nb201.parse("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|")
    b = nb201.parse("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|")
    assert nb201.canonical(a) == nb201.canonical(b)
    c = nb201.parse("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|skip_connect~2|")
    assert nb201.canonical(a) != nb201.canonical(c)
