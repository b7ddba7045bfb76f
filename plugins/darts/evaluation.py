"""DARTS's evaluation networks for a genotype: NetworkCIFAR and NetworkImageNet.

Same macro-structure as DARTS's ``model.py``: reductions at 1/3 and 2/3 depth,
an auxiliary head after the 2/3 cell. The head is built (attribute
``auxiliary_head``, so parameter counts can leave out names containing
"auxiliary") but, to keep ``forward`` returning logits only, it runs only when
``compute_auxiliary`` is set, in train mode; its logits are then left in
``auxiliary_logits``. Drop path, as DARTS's ``train.py`` applies it, runs in
train mode while ``drop_path_prob`` is above 0, its draws taken from
``drop_generator`` (a ``torch.Generator``; None: PyTorch's global one). The final pooling is
adaptive: identical to DARTS's AvgPool2d(7) at 224x224 on ImageNet, and it
also lets the ImageNet network run on the 32x32 images TE-NAS searches with.
"""

import numpy as np
import torch
import torch.nn as nn

from .cell import run, stack
from .ops import batch_norm


def reductions(layers):
    return tuple(i in (layers // 3, 2 * layers // 3) for i in range(layers))


class AuxiliaryHeadCIFAR(nn.Sequential):
    """Expects the 8x8 features of a 32x32 input."""

    def __init__(self, channels, num_classes):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False),
            batch_norm(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            batch_norm(768),
            nn.ReLU(inplace=False),
            nn.Flatten(),
            nn.Linear(768, num_classes),
        )


class AuxiliaryHeadImageNet(nn.Sequential):
    """Expects 14x14 features; DARTS omits the BN after the 2x2 conv (kept so)."""

    def __init__(self, channels, num_classes):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=2, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False),
            batch_norm(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.ReLU(inplace=False),
            nn.Flatten(),
            nn.Linear(768, num_classes),
        )


class EvaluationNetwork(nn.Module):
    """Shared body: stems are set by subclasses, cells come from the mask."""

    compute_auxiliary = False
    drop_path_prob = 0.0
    drop_generator = None

    def _build_body(self, mask, layers, c_prev_prev, c_prev, channels, reduction_prev, num_classes, head):
        self.mask = np.array(mask, dtype=bool)
        self.auxiliary_index = 2 * layers // 3
        self.cells, width = stack(self.mask, reductions(layers), c_prev_prev, c_prev, channels, reduction_prev)
        for cell in self.cells:
            for edge in cell.edges:
                edge.reference_calls = 0  # DARTS's model.py cell holds its ops, without a mixed op around each
        self.auxiliary_head = head(self.cells[self.auxiliary_index].out_channels, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)
        self.auxiliary_logits = None

    def _inputs(self, x):
        raise NotImplementedError

    def forward(self, x):
        self.auxiliary_logits = None
        s0, s1 = self._inputs(x)
        drop = self._drop_path if self.training and self.drop_path_prob > 0 else None
        x = run(self.cells, s0, s1, self.mask, self._auxiliary, drop)
        return self.classifier(self.pool(x).flatten(1))

    def _drop_path(self, x):
        """DARTS's drop_path: each sample's path kept with probability 1 - p, and scaled by 1 / (1 - p)."""
        keep = 1.0 - self.drop_path_prob
        kept = torch.empty((x.shape[0], 1, 1, 1), device=x.device).bernoulli_(keep, generator=self.drop_generator)
        return x / keep * kept.to(x.dtype)

    def _auxiliary(self, index, features):
        if index == self.auxiliary_index and self.compute_auxiliary and self.training:
            self.auxiliary_logits = self.auxiliary_head(features)


class NetworkCIFAR(EvaluationNetwork):
    def __init__(self, mask, num_classes, channels=36, layers=20, in_channels=3, stem_multiplier=3):
        super().__init__()
        width = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), batch_norm(width))
        self._build_body(mask, layers, width, width, channels, False, num_classes, AuxiliaryHeadCIFAR)

    def _inputs(self, x):
        x = self.stem(x)
        return x, x


class NetworkImageNet(EvaluationNetwork):
    def __init__(self, mask, num_classes, channels=48, layers=14, in_channels=3):
        super().__init__()
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, channels // 2, 3, stride=2, padding=1, bias=False),
            batch_norm(channels // 2),
            nn.ReLU(inplace=False),
            nn.Conv2d(channels // 2, channels, 3, stride=2, padding=1, bias=False),
            batch_norm(channels),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
            batch_norm(channels),
        )
        # stem1 halves the resolution once more, so the first cell sees a "previous reduction".
        self._build_body(mask, layers, channels, channels, channels, True, num_classes, AuxiliaryHeadImageNet)

    def _inputs(self, x):
        s0 = self.stem0(x)
        return s0, self.stem1(s0)
