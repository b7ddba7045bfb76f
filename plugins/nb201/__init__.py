"""NAS-Bench-201 search space (NATS-Bench topology space) for tenas-kit."""

import numpy as np

import itertools

from tenas_kit.cellgraph import graph_features, op_features
from tenas_kit.errors import TenasError
from tenas_kit.hookspecs import hookimpl
from tenas_kit.space import ZERO, Layout, single_path

from . import arch as archstr
from .benchmark import NB201Accuracy
from .layout import EDGES, NODES, OPS

# Every group of the ops that pass something on: GRAF counts paths through each.
GROUPS = {"+".join(g): set(g) for n in range(1, len(OPS)) for g in itertools.combinations(OPS[1:], n)}


class NB201:
    name = "nb201"
    description = "NAS-Bench-201: one cell, 6 edges, 5 ops, 15625 architectures"
    layout = Layout(cell_types=("cell",), edges=tuple(f"{i}<-{j}" for i, j in EDGES), ops=OPS)

    # Reference TE-NAS settings: kappa_N on the C=3, N=1 supernet; R_N on one C=1 cell.
    supernet_channels, supernet_cells = 3, 1
    evaluation_channels, evaluation_cells = 16, 5

    def defaults(self, dataset):
        return {"batch_size": 72, "prune_number": 1, "recipe": "nb201"}

    def network(self, mask, role, num_classes, in_channels=3):
        from .network import Network  # torch: only once a network is built

        if role == "supernet":
            return Network(mask, self.supernet_channels, self.supernet_cells, num_classes, in_channels)
        if role == "thin":
            return Network(mask, in_channels, 1, num_classes, in_channels, stem=False, depth=1)
        if role == "evaluation":
            return Network(mask, self.evaluation_channels, self.evaluation_cells, num_classes, in_channels)
        raise TenasError(f"space nb201 has no '{role}' network; roles: supernet, thin, evaluation.")

    def train_network(self, arch, num_classes, channels=0, cells=0, in_channels=3):
        """The benchmark's network (C=16, N=5 unless given) for a cell."""
        from .network import Network

        channels, cells = channels or self.evaluation_channels, cells or self.evaluation_cells
        return Network(self.arch_to_mask(arch), channels, cells, num_classes, in_channels)

    def parse(self, text):
        return archstr.parse(text)

    def format(self, arch):
        return archstr.format(arch)

    def enumerate(self):
        """Every architecture of the space, in canonical string order."""
        return archstr.every()

    def canonical(self, arch):
        return archstr.canonical(arch)

    def representative(self, arch):
        return archstr.representative(arch)

    def features(self, arch):
        """GRAF's features of the cell (``tenas_kit.cellgraph``): input node 0, output node 3."""
        edges = [(i, j, op) for (i, j), op in zip(EDGES, arch) if op != ZERO]
        return {**op_features(zip(self.layout.edges, arch), OPS), **graph_features(edges, (0,), NODES - 1, GROUPS)}

    def neighbours(self, arch):
        """Every cell with one edge's op changed."""
        return [arch[:e] + (op,) + arch[e + 1:] for e in range(len(arch)) for op in OPS if op != arch[e]]

    def to_json(self, arch):
        """Op per edge, edges named target<-source."""
        return {"edges": dict(zip(self.layout.edges, arch))}

    def arch_to_mask(self, arch):
        mask = np.zeros(self.layout.shape, dtype=bool)
        for e, op in enumerate(arch):
            mask[0, e, OPS.index(op)] = True
        return mask

    def mask_to_arch(self, mask):
        if not single_path(mask) or (mask.sum(axis=2) == 0).any():
            raise TenasError("the op mask is not a single path: every NAS-Bench-201 edge needs exactly one op.")
        return tuple(OPS[int(np.flatnonzero(mask[0, e])[0])] for e in range(len(EDGES)))


@hookimpl
def register_spaces(register):
    register(NB201())


@hookimpl
def register_benchmarks(register):
    register(NB201Accuracy())
