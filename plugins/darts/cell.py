"""The DARTS cell for any op mask, and stacks of such cells.

Nodes 0 and 1 are the cell's two inputs (the outputs of the two previous
cells, preprocessed to ``channels``); intermediate nodes 2..5 each sum one
MixedEdge per earlier node, and the cell outputs their concatenation. One cell
class serves the supernet (many ops per edge) and the evaluation network (one
op on 2 edges per node): with a single op, a MixedEdge is exactly that op.
"""

import torch
import torch.nn as nn

from tenas_kit.nn.mixed import MixedEdge

from .layout import CELL_TYPES, EDGES, INPUTS, NODE_EDGES, NODES, OPS, STEPS
from .ops import FactorizedReduce, ReLUConvBN, make_op

MULTIPLIER = STEPS  # the output concatenates every intermediate node


class Cell(nn.Module):
    def __init__(self, alive, c_prev_prev, c_prev, channels, reduction, reduction_prev):
        """``alive``: this cell type's (edges x ops) mask; only alive ops are built."""
        super().__init__()
        self.kind = CELL_TYPES.index("reduce" if reduction else "normal")
        self.stride = 2 if reduction else 1
        self.out_channels = MULTIPLIER * channels
        # After a reduction the older input is twice as large as the newer one.
        self.preprocess0 = FactorizedReduce(c_prev_prev, channels) if reduction_prev else ReLUConvBN(c_prev_prev, channels, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0)
        self.edges = nn.ModuleList(self._edge(alive[e], channels, j) for e, (_, j) in enumerate(EDGES))

    def _edge(self, alive, channels, source):
        # Only edges leaving the cell inputs change resolution.
        stride = self.stride if source < INPUTS else 1
        return MixedEdge(OPS, alive, lambda name: make_op(name, channels, stride))

    def forward(self, s0, s1, alive, drop=None):
        """``drop(x)``: drop path, applied to the output of every edge whose ops are not all identities."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in NODES:
            total = None
            for e in NODE_EDGES[k]:
                out = self.edges[e](states[EDGES[e][1]], alive[e])
                if out is not None and drop is not None and not _identity(self.edges[e], alive[e]):
                    out = drop(out)
                if out is not None:
                    total = out if total is None else total + out
            states.append(self._zeros(states[1]) if total is None else total)
        return torch.cat(states[INPUTS:], dim=1)

    def _zeros(self, x):
        """A node no alive edge feeds: zeros at the cell's output resolution."""
        n, c, h, w = x.shape
        return x.new_zeros(n, c, (h - 1) // self.stride + 1, (w - 1) // self.stride + 1)


def _identity(edge, alive):
    """DARTS leaves an identity op's output whole: dropping the path of a skip connection drops nothing."""
    return all(isinstance(op, nn.Identity) for key, op in edge.ops.items() if alive[int(key)])


def stack(mask, reductions, c_prev_prev, c_prev, channels, reduction_prev=False):
    """Cells in order; channels double at every reduction. Returns (cells, output channels)."""
    cells = nn.ModuleList()
    for reduction in reductions:
        if reduction:
            channels *= 2
        cell = Cell(mask[int(reduction)], c_prev_prev, c_prev, channels, reduction, reduction_prev)
        cells.append(cell)
        c_prev_prev, c_prev, reduction_prev = c_prev, cell.out_channels, reduction
    return cells, c_prev


def run(cells, s0, s1, mask, after=None, drop=None):
    """Feed each cell the two previous outputs; ``after(i, output)`` sees every cell's output; ``drop``: the
    cells' drop path."""
    for i, cell in enumerate(cells):
        s0, s1 = s1, cell(s0, s1, mask[cell.kind], drop)
        if after is not None:
            after(i, s1)
    return s1
