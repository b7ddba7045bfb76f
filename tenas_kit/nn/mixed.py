"""Building block for supernets: an edge that averages its alive ops.

TE-NAS's supernet edge outputs softmax(alpha) . ops with pruned ops at -inf and
the rest at 0, which is the mean of the alive ops. Ops whose weight is zero are
not run at all: they cost time and add nothing (and their ReLUs are not part
of the network whose linear regions R_N counts).
"""

from __future__ import annotations

import torch.nn as nn

from tenas_kit.space import ZERO


class MixedEdge(nn.Module):
    def __init__(self, op_names, alive, make_op):
        """``make_op(name)`` builds one op; only alive, non-zero ops are built."""
        super().__init__()
        self.op_names = tuple(op_names)
        self.ops = nn.ModuleDict(
            {str(i): make_op(name) for i, name in enumerate(op_names) if alive[i] and name != ZERO}
        )

    def forward(self, x, alive):
        """Mean over alive ops; ``none`` counts in the mean but adds zeros. None if nothing runs."""
        count = int(alive.sum())
        total = None
        for key, op in self.ops.items():
            if alive[int(key)]:
                out = op(x)
                total = out if total is None else total + out
        if total is None or count == 1:
            return total
        return total / count
