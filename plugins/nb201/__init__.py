"""NAS-Bench-201 search space (NATS-Bench topology space) for tenas-kit."""

import itertools

import numpy as np

from tenas_kit.errors import TenasError
from tenas_kit.hookspecs import hookimpl
from tenas_kit.space import Layout, single_path

from . import arch as archstr
from .layout import EDGES, OPS


class NB201:
    name = "nb201"
    description = "NAS-Bench-201: one cell, 6 edges, 5 ops, 15625 architectures"
    layout = Layout(cell_types=("cell",), edges=tuple(f"{i}<-{j}" for i, j in EDGES), ops=OPS)

    # Reference TE-NAS settings: kappa_N on the C=3, N=1 supernet; R_N on one C=1 cell.
    supernet_channels, supernet_cells = 3, 1
    evaluation_channels, evaluation_cells = 16, 5

    def defaults(self, dataset):
        return {"batch_size": 72, "prune_number": 1}

    def network(self, mask, role, num_classes, in_channels=3):
        from .network import Network  # torch: only once a network is built

        if role == "supernet":
            return Network(mask, self.supernet_channels, self.supernet_cells, num_classes, in_channels)
        if role == "thin":
            return Network(mask, in_channels, 1, num_classes, in_channels, stem=False, depth=1)
        if role == "evaluation":
            return Network(mask, self.evaluation_channels, self.evaluation_cells, num_classes, in_channels)
        raise TenasError(f"space nb201 has no '{role}' network; roles: supernet, thin, evaluation.")

    def parse(self, text):
        return archstr.parse(text)

    def format(self, arch):
        return archstr.format(arch)

    def enumerate(self):
        """Every architecture of the space, in canonical string order."""
        return [tuple(ops) for ops in itertools.product(OPS, repeat=len(EDGES))]

    def canonical(self, arch):
        return archstr.canonical(arch)

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
