"""The search-space contract and the op mask it is driven by.

A mask is a boolean array (cell types x edges x ops): True where an op is still
alive. The engine and pruning policies only ever manipulate masks; the space
turns a mask into networks and a single-path mask into an architecture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tenas_kit.contract import optional

if TYPE_CHECKING:  # torch only for the annotation: plugins that import Layout load without it
    import torch.nn as nn

# Name of the op that outputs zeros (NB201, DARTS). Kept here rather than in tenas_kit.nn.mixed so
# pruners and architecture parsers can name it without importing torch.
ZERO = "none"


@dataclass(frozen=True)
class Layout:
    cell_types: tuple[str, ...]
    edges: tuple[str, ...]
    ops: tuple[str, ...]
    # Edges that feed one node and how many of them a final architecture keeps;
    # empty when every edge stays (NAS-Bench-201).
    edge_groups: tuple[tuple[tuple[int, ...], int], ...] = ()

    @property
    def shape(self):
        return (len(self.cell_types), len(self.edges), len(self.ops))

    def full_mask(self):
        return np.ones(self.shape, dtype=bool)

    def label(self, cell, edge, op=None):
        parts = [self.cell_types[cell], self.edges[edge]]
        if op is not None:
            parts.append(self.ops[op])
        return "/".join(parts)


class MaskedNetwork(Protocol):
    """An ``nn.Module`` whose alive ops can be narrowed after it was built.

    Setting ``mask`` to any subset of the mask it was built with must change
    which ops run without touching any weight, so a supernet and all its
    one-op-removed candidates share weights exactly.
    """

    mask: np.ndarray

    def __call__(self, x): ...


class SearchSpace(Protocol):
    """A search space (``register_spaces``). Members with a default, and methods marked ``@optional``, may be
    left out; everything else is checked when the plugin loads (``tenas_kit.contract``)."""

    name: str
    description: str
    layout: Layout

    def defaults(self, dataset: str) -> dict[str, Any]:
        """Suggested settings for this space on a dataset, e.g. batch_size, prune_number."""

    def network(self, mask: np.ndarray, role: str, num_classes: int, in_channels: int = 3) -> nn.Module:
        """Build a MaskedNetwork. Roles: 'supernet' (kappa_N), 'thin' (R_N), 'evaluation'. A network may set
        ``onednn = False`` when PyTorch's native CPU kernels beat oneDNN on it (very thin convolutions)."""

    def parse(self, text: str) -> Any:
        """Architecture from its canonical text; raise TenasError when malformed."""

    def format(self, arch: Any) -> str: ...

    def arch_to_mask(self, arch: Any) -> np.ndarray: ...

    def mask_to_arch(self, mask: np.ndarray) -> Any:
        """Architecture of a single-path mask (one op per kept edge)."""

    @optional
    def canonical(self, arch: Any) -> str:
        """The key of ``arch``'s isomorphism class, equal for architectures that compute the same function:
        ranking draws their networks' weights from one seed. Without it, ``format(arch)`` is the key."""

    @optional
    def representative(self, arch: Any) -> Any:
        """The member of ``arch``'s isomorphism class that ranking scores for every member: one architecture,
        the same for all of them. The score store keys each score by the text of the architecture scored, so
        a stored number is a function of its key. Without it, every architecture is scored as written."""

    @optional
    def enumerate(self) -> list:
        """Every architecture of a finite space (``rank --all``, ``--sample`` without replacement)."""

    @optional
    def sample(self, rng) -> Any:
        """One architecture drawn with a numpy Generator (``rank --sample`` in a space too large to list)."""

    @optional
    def train_network(self, arch: Any, num_classes: int, channels: int = 0, cells: int = 0,
                      in_channels: int = 3) -> nn.Module:
        """The network ``tenaskit train`` trains for ``arch``: the space's evaluation network, ``channels`` wide
        and ``cells`` deep as the space counts them (0: its own). ``forward`` returns logits. The trainer sets,
        where the network has them, ``drop_path_prob`` (a float, each epoch) with ``drop_generator`` (a
        ``torch.Generator`` the drops are drawn from), and ``compute_auxiliary`` (then a forward in train mode
        leaves an auxiliary head's logits in ``auxiliary_logits``). ``defaults(dataset)["recipe"]`` names the
        recipe it is trained with unless ``--recipe`` says otherwise."""

    @optional
    def neighbours(self, arch: Any) -> list:
        """The architectures one edit away from ``arch``, the space saying what an edit is (one edge's op
        changed, say): where a search that spends queries (``run --queries``) looks next."""

    @optional
    def to_json(self, arch: Any) -> dict:
        """A structured form for ``tenaskit export --format json``."""

    @optional
    def features(self, arch: Any) -> dict[str, float]:
        """The cell's encoding, ``{name: number}`` with the same names for every cell, that a ranker learning
        from labels reads beside the proxies' scores (``tenas_kit.learned``; ``tenas_kit.cellgraph`` computes
        GRAF's). Without it, the ranker sees the proxies alone."""


def single_path(mask):
    """True when every edge keeps at most one op."""
    return bool((mask.sum(axis=2) <= 1).all())
