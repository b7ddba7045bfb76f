"""NAS-Bench-201 operations (Dong and Yang, ICLR 2020)."""

import torch.nn as nn

from tenas_kit.nn.layers import AvgPool2d

from .layout import OPS  # noqa: F401  (re-exported: the op names beside the modules they build)


class ReLUConvBN(nn.Sequential):
    reference_calls = 2  # the reference's ReLUConvBN module returns what its Sequential does (network.py)

    def __init__(self, c_in, c_out, kernel, stride, padding):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=True, track_running_stats=True),
        )


def make_op(name, channels):
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if name == "avg_pool_3x3":
        pool = AvgPool2d(3, stride=1, padding=1)
        pool.reference_calls = 2  # the reference wraps it in a POOLING module
        return pool
    raise ValueError(f"no module for op '{name}'")


class ResNetBasicBlock(nn.Module):
    """The fixed stride-2 block between NAS-Bench-201 stages."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))
