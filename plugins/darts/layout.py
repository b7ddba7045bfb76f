"""The DARTS cell's cell types, nodes, edges and ops, the axes of its op mask.

Apart from the network modules so that the space registers, and genotypes
parse, without importing torch.
"""

INPUTS = 2
STEPS = 4  # intermediate nodes
NODES = tuple(range(INPUTS, INPUTS + STEPS))
# (target, source) in canonical order: by target node, then source.
EDGES = tuple((k, j) for k in NODES for j in range(k))
NODE_EDGES = {k: tuple(e for e, (i, _) in enumerate(EDGES) if i == k) for k in NODES}
CELL_TYPES = ("normal", "reduce")

# Index order of the op mask's last axis (DARTS's PRIMITIVES).
OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
