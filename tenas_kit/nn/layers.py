"""Layers that search spaces may use where the stock module is slow under batched autograd.

Exact kappa_N needs one backward pass per sample through the full batch; autograd
batches those passes with vmap. ``avg_pool2d_backward`` has no batching rule, so
vmap runs it sample by sample and stacks the results, which cost about a quarter
of an NB201 supernet's kernel (benchmarks/ntk_modes.py). A depthwise convolution
with a kernel of ones computes the same window sums and batches natively.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from tenas_kit.nn.switches import ONEDNN


@contextmanager
def cpu_kernels(network):
    """Context for running ``network`` forward and backward: oneDNN unless the network sets ``onednn = False``.

    oneDNN wins on ordinary convolutions; on very thin (one-channel, depthwise)
    ones PyTorch's native kernels are faster. Only the network knows which it is.
    """
    with ONEDNN.held(getattr(network, "onednn", True)):  # process-wide: shared with jobs on other threads
        yield


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


class AvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d`` (count_include_pad=False, ceil_mode=False) as a depthwise convolution of ones.

    Same values up to float rounding order; still an ``nn.AvgPool2d`` for code
    that looks modules up by type.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(kernel_size, stride=stride, padding=padding, count_include_pad=False)

    def forward(self, x):
        if not torch.is_grad_enabled():
            # No backward to batch: the stock kernel is quicker, and FLOP counters see a pool, not a convolution.
            return super().forward(x)
        kernel, stride, padding = _pair(self.kernel_size), _pair(self.stride or self.kernel_size), _pair(self.padding)
        channels, height, width = x.shape[-3:]
        ones = x.new_ones(channels, 1, *kernel)
        sums = F.conv2d(x, ones, stride=stride, padding=padding, groups=channels)
        # How many real (unpadded) pixels each window covers.
        counts = F.conv2d(x.new_ones(1, 1, height, width), ones[:1], stride=stride, padding=padding)
        return sums / counts

    def extra_repr(self):
        return super().extra_repr() + ", as depthwise convolution"
