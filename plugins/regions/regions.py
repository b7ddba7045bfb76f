"""Counting linear regions: distinct ReLU on/off codes over a set of inputs.

A sample's code is the sign pattern (1 if > 0) of the outputs of every ReLU
module that acts on a 4-D tensor, concatenated. Codes are packed into bytes and
deduplicated, which is exact and linear in the number of samples.
"""

import numpy as np
import torch

from tenas_kit.nn.probes import activation_codes  # noqa: F401  (re-exported: the count's input)


def count_distinct(codes):
    """Number of distinct rows of a bool matrix."""
    if codes.shape[1] == 0:
        return min(len(codes), 1)
    if codes.device.type != "cpu":
        return device_count_distinct(codes)
    return len(np.unique(np.packbits(codes.numpy(), axis=1), axis=0))


def device_count_distinct(codes):
    """``count_distinct`` where the codes lie, so an accelerator sends back one number, not the codes."""
    bits = torch.nn.functional.pad(codes, (0, -codes.shape[1] % 8)).view(len(codes), -1, 8).to(torch.uint8)
    weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8, device=codes.device)
    packed = (bits * weights).sum(-1, dtype=torch.uint8)  # eight distinct powers of two: no carries
    return int(torch.unique(packed, dim=0).shape[0])


def crops(images, size, generator):
    """One random ``size`` x ``size`` crop of one random channel per image: (n, 1, size, size)."""
    n, channels, h, w = images.shape
    c = generator.integers(0, channels, size=n)
    y = generator.integers(0, h - size + 1, size=n)
    x = generator.integers(0, w - size + 1, size=n)
    offsets = torch.arange(size)
    rows = torch.as_tensor(y)[:, None, None] + offsets[None, :, None]
    columns = torch.as_tensor(x)[:, None, None] + offsets[None, None, :]
    return images[torch.arange(n)[:, None, None], torch.as_tensor(c)[:, None, None], rows, columns].unsqueeze(1)
