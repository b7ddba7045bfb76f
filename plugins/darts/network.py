"""The DARTS networks TE-NAS scores during search (``supernet`` and ``thin``).

Both are TE-NAS's ``NASNetworkDARTS`` with C=1, stem multiplier 1 and depth 2:
a normal cell then a reduction cell (which doubles C), then BN+ReLU, global
average pooling and a linear classifier. The reference code has that BN+ReLU
(``lastact``) before pooling; its ReLU is part of what R_N counts, so it is
kept here. The thin network (R_N) has no stem: the cells read the 1-channel
3x3 crops directly.
"""

import numpy as np
import torch.nn as nn

from .cell import run, stack
from .ops import batch_norm


class SearchNetwork(nn.Module):
    # One-channel depthwise convolutions run about 2x faster through autograd on
    # PyTorch's native CPU kernels than on oneDNN (benchmarks/ntk_modes.py).
    onednn = False

    def __init__(self, mask, channels, num_classes, in_channels=3, stem=True, stem_multiplier=1):
        super().__init__()
        # Read at every forward: narrowing it drops ops without touching weights.
        self.mask = np.array(mask, dtype=bool)
        if stem:
            width = channels * stem_multiplier
            self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), batch_norm(width))
        else:
            self.stem, width = nn.Identity(), in_channels
            self.stem.reference_calls = 0  # DARTS's networks have a stem: none returns the input
        self.cells, width = stack(self.mask, (False, True), width, width, channels)
        self.lastact = nn.Sequential(batch_norm(width), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = run(self.cells, x, x, self.mask)
        return self.classifier(self.pool(self.lastact(x)).flatten(1))
