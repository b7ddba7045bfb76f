"""Counting linear regions: distinct ReLU on/off codes over a set of inputs.

A sample's code is the sign pattern (1 if > 0) of the outputs of every ReLU
module that acts on a 4-D tensor, concatenated. Codes are packed into bytes and
deduplicated, which is exact and linear in the number of samples.
"""

import numpy as np
import torch

from tenas_kit.probes import activation_codes  # noqa: F401  (re-exported: the count's input)


def count_distinct(codes):
    """Number of distinct rows of a bool matrix."""
    packed = np.packbits(codes.cpu().numpy(), axis=1)
    return len(np.unique(packed, axis=0)) if packed.shape[1] else min(len(packed), 1)


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
