import itertools

import numpy as np
import pytest
import torch
import torch.nn as nn

from tenaskit_builtins.regions.regions import activation_codes, count_distinct, crops, device_count_distinct


def pairwise_count(codes):
    """The reference's count: each sample contributes 1 / (number of samples with the same code)."""
    a = codes.double()
    differ = a @ (1 - a).T
    differ = differ + differ.T
    same = (differ == 0).double().sum(1)
    return float((1.0 / same).sum())


def test_hand_countable_regions():
    # One ReLU on a 1x1 single-channel map: code = sign of the input. Inputs -2, -1, 1, 3 -> 2 regions.
    net = nn.Sequential(nn.ReLU())
    x = torch.tensor([-2.0, -1.0, 1.0, 3.0]).view(4, 1, 1, 1)
    assert count_distinct(activation_codes(net, x)) == 2
    # Two pixels -> the four sign quadrants, here three of them are hit.
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [2.0, 5.0]]).view(4, 1, 1, 2)
    assert count_distinct(activation_codes(net, x)) == 3


def test_only_relus_on_4d_tensors_count():
    net = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.ReLU())
    x = torch.tensor([-1.0, 2.0]).view(2, 1, 1, 1)
    codes = activation_codes(net, x)
    assert codes.shape == (2, 1)


def test_packed_count_equals_pairwise_matrix_count():
    rng = np.random.default_rng(0)
    for units in (1, 7, 8, 9, 70):
        codes = torch.from_numpy(rng.random((300, units)) < 0.3)
        assert count_distinct(codes) == round(pairwise_count(codes))


def test_all_sign_patterns_of_three_units():
    codes = torch.tensor(list(itertools.product([False, True], repeat=3)) * 2)
    assert count_distinct(codes) == 8


def test_crops_take_one_channel_window():
    images = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    out = crops(images, 3, np.random.default_rng(0))
    assert out.shape == (2, 1, 3, 3)
    for i in range(2):
        window = out[i, 0]
        # A window of one channel: consecutive columns differ by 1, rows by 5.
        assert torch.all(window[:, 1:] - window[:, :-1] == 1) and torch.all(window[1:] - window[:-1] == 5)


def test_crops_are_the_slices_the_generator_draws():
    images = torch.randn(40, 3, 8, 8)
    out = crops(images, 3, np.random.default_rng(5))
    draw = np.random.default_rng(5)  # crops draws channel, row, column, in that order
    c, y, x = (draw.integers(0, 3, size=40), draw.integers(0, 6, size=40), draw.integers(0, 6, size=40))
    expected = torch.stack([images[i, c[i] : c[i] + 1, y[i] : y[i] + 3, x[i] : x[i] + 3] for i in range(40)])
    assert torch.equal(out, expected)


@pytest.mark.parametrize("width", [1, 8, 13, 64])
def test_accelerator_count_equals_numpy_count(width):
    # The accelerator path runs anywhere torch does; here it is checked on the CPU against numpy's.
    generator = torch.Generator().manual_seed(width)
    codes = torch.rand(300, width, generator=generator) < 0.3
    codes = torch.cat([codes, codes[:50]])  # duplicates that must be counted once
    expected = len({tuple(row) for row in codes.tolist()})
    assert device_count_distinct(codes) == count_distinct(codes) == expected
