"""The NAS-Bench-201 cell's nodes, edges and ops, the axes of its op mask.

Apart from the network modules so that the space registers, and architecture
strings parse, without importing torch.
"""

NODES = 4
# (target, source) in canonical order: by target node, then source.
EDGES = tuple((i, j) for i in range(1, NODES) for j in range(i))
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
