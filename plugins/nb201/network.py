"""NAS-Bench-201 networks for any op mask: supernet, thin network, evaluation net.

Where the modules nest otherwise than in the reference network of the
zero-cost proxies' code (``foresight/models/nasbench2.py``, Abdelfattah et al.,
which MeCo's official code builds), ``reference_calls`` says how many of its
module calls return a module's output (``tenas_kit.nn.probes``).
"""

import numpy as np
import torch
import torch.nn as nn

from tenas_kit.nn.mixed import MixedEdge

from .layout import EDGES, NODES
from .ops import OPS, ResNetBasicBlock, make_op


class Cell(nn.Module):
    def __init__(self, channels, alive):
        super().__init__()
        self.edges = nn.ModuleList(
            MixedEdge(OPS, alive[e], lambda name: make_op(name, channels)) for e in range(len(EDGES))
        )
        for edge in self.edges:
            edge.reference_calls = 0  # the reference adds the ops into the nodes without an edge module

    def forward(self, x, mask):
        nodes = [x]
        for target in range(1, NODES):
            total = None
            for e, (i, j) in enumerate(EDGES):
                if i != target:
                    continue
                out = self.edges[e](nodes[j], mask[e])
                if out is not None:
                    total = out if total is None else total + out
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[-1]


class Network(nn.Module):
    """Stem, three stages of ``cells`` cells joined by ResNet blocks, classifier.

    ``depth`` keeps only the first ``depth`` layers (cells and blocks), as the
    reference does for the thin network.
    """

    def __init__(self, mask, channels, cells, num_classes, in_channels=3, stem=True, depth=None):
        super().__init__()
        self.mask = np.array(mask, dtype=bool)
        widths = [channels] * cells + [channels * 2] + [channels * 2] * cells + [channels * 4] + [channels * 4] * cells
        reductions = [False] * cells + [True] + [False] * cells + [True] + [False] * cells
        if depth is not None:
            widths, reductions = widths[:depth], reductions[:depth]
        if stem:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
            )
            self.stem.reference_calls = 2  # inside the reference's stem module
            previous = channels
        else:
            self.stem = nn.Identity()
            self.stem.reference_calls = 0
            previous = in_channels
        self.layers = nn.ModuleList()
        for width, reduction in zip(widths, reductions):
            if reduction:
                self.layers.append(ResNetBasicBlock(previous, width))
            else:
                if previous != width:
                    raise ValueError("a NAS-Bench-201 cell keeps its width; use in_channels == channels without a stem")
                self.layers.append(Cell(width, self.mask[0]))
            previous = width
        for layer, after in zip(self.layers, [*self.layers[1:], None]):
            if isinstance(layer, Cell) and not isinstance(after, Cell):
                layer.reference_calls = 2  # the reference's nn.Sequential of a stage returns its last cell's output
        self.lastact = nn.Sequential(nn.BatchNorm2d(previous), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(previous, num_classes)

    def forward(self, x):
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, self.mask[0]) if isinstance(layer, Cell) else layer(x)
        x = self.pool(self.lastact(x)).flatten(1)
        return self.classifier(x)
