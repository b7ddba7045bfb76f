"""DARTS operations (Liu, Simonyan, Yang, ICLR 2019), as TE-NAS builds them.

Every BatchNorm is affine and tracks running statistics (TE-NAS's settings), and
every ReLU is a separate ``nn.ReLU(inplace=False)`` module: R_N reads the
outputs of ReLU modules through forward hooks, so they must be modules and must
not overwrite their input.

Where the modules nest otherwise than DARTS's own (``cnn/operations.py``,
which MeCo's DARTS experiments build too), ``reference_calls`` says how many
of DARTS's module calls return a module's output (``tenas_kit.nn.probes``).
"""

import torch
import torch.nn as nn

from tenas_kit.nn.layers import AvgPool2d

from .layout import OPS  # noqa: F401  (re-exported: the op names beside the modules they build)


def batch_norm(channels):
    return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)


class ReLUConvBN(nn.Sequential):
    reference_calls = 2  # DARTS's ReLUConvBN module returns what its Sequential does

    def __init__(self, c_in, c_out, kernel, stride, padding):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            batch_norm(c_out),
        )


class DilConv(nn.Sequential):
    """ReLU, depthwise (optionally dilated) conv, pointwise conv, BN."""

    reference_calls = 2  # DARTS's DilConv module around its Sequential

    def __init__(self, c_in, c_out, kernel, stride, padding, dilation):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            batch_norm(c_out),
        )


class SepConv(nn.Sequential):
    """Two depthwise-separable blocks; only the first one strides."""

    reference_calls = 2  # DARTS's SepConv module around one Sequential of both blocks' layers

    def __init__(self, c_in, c_out, kernel, stride, padding):
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1),
            DilConv(c_in, c_out, kernel, 1, padding, 1),
        )
        for block in self:
            block.reference_calls = 0


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1x1 stride-2 convs, one shifted by a pixel.

    The shifted branch reads a zero-padded input (as TE-NAS's version does), so
    odd sizes work too: the thin R_N network feeds 3x3 inputs to a reduction
    cell. On even sizes it equals DARTS's ``x[:, :, 1:, 1:]``. Channels split as
    ``c_out // 2`` and the rest, so odd ``c_out`` works as well.
    """

    def __init__(self, c_in, c_out):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0.0)
        self.pad.reference_calls = 0  # DARTS slices its input without a module
        self.bn = batch_norm(c_out)

    def forward(self, x):
        x = self.relu(x)
        shifted = self.pad(x)[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def make_op(name, channels, stride):
    """One op on ``channels`` channels; ``none`` has no module (MixedEdge skips it)."""
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return AvgPool2d(3, stride=stride, padding=1)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)
    if name == "sep_conv_3x3":
        return SepConv(channels, channels, 3, stride, 1)
    if name == "sep_conv_5x5":
        return SepConv(channels, channels, 5, stride, 2)
    if name == "dil_conv_3x3":
        return DilConv(channels, channels, 3, stride, 2, 2)
    if name == "dil_conv_5x5":
        return DilConv(channels, channels, 5, stride, 4, 2)
    raise ValueError(f"no module for op '{name}'")
