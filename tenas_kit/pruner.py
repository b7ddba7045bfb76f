"""The pruning-policy contract: which masks to measure, and what to remove given the numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class Candidate:
    """One move: ``key`` names it (cell, edge, op) or (cell, edge); ``mask`` is the supernet after it."""

    key: tuple
    label: str
    mask: np.ndarray


@dataclass
class Measurement:
    """One proxy's numbers for a round: the supernet's, then each candidate's, per repeat."""

    proxy: str
    higher_is_better: bool
    weight: float
    base: np.ndarray  # (repeats,)
    values: np.ndarray  # (repeats, candidates)


@dataclass
class Decision:
    mask: np.ndarray
    removed: list  # candidate indices whose move was taken
    columns: dict = field(default_factory=dict)  # per-candidate numbers worth recording, name -> array
    # What the round pruned, by name, where the moves taken are not candidates of their own (a policy
    # that measures sampled cells and prunes ops); by default the labels of the removed candidates.
    pruned: list | None = None

    def pruned_labels(self, candidates):
        return list(self.pruned) if self.pruned is not None else [candidates[i].label for i in self.removed]


class Pruner(Protocol):
    """A pruning policy (``register_pruners``), checked when its plugin loads (``tenas_kit.contract``)."""

    name: str
    description: str
    cli_options: list = ()  # click.Option list, added to run only; only this pruner reads their values

    def settings(self, options: dict, space_defaults: dict) -> dict: ...

    def start(self, space, mask: np.ndarray, settings: dict) -> np.ndarray:
        """The supernet the search begins from."""

    def candidates(self, space, mask: np.ndarray, settings: dict) -> list[Candidate]:
        """Moves to measure this round; an empty list ends the search."""

    def decide(self, space, mask, candidates, measurements: list[Measurement], settings: dict) -> Decision: ...
