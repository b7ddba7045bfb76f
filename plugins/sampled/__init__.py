"""Sampled pruning: TE-NAS's op-by-op pruning, each op judged by the cells it appears in.

TE-NAS judges an op by how removing it from the supernet changes kappa_N and
R_N. The newer proxies (MeCo, SynFlow, FLOPs, ...) were designed and tested
on single cells, where a supernet's sum of ops is a network none of them was
meant for, and on a supernet their change mostly counts how much work an op
adds. This policy keeps TE-NAS's loop (every round removes the
``prune_number`` worst ops of every edge, until each edge holds one) but
measures cells: each round draws ``prune_samples`` single-op cells from what
is left, every alive op of an edge equally often, ranks them by each proxy,
combines the ranks by the run's rule (a preset's, or TE-NAS's rank sum), and
scores an op by the mean combined rank of the cells that use it. Edge
rounds (DARTS keeps two inputs per node) are TE-NAS's own.
"""

import click
import numpy as np

from tenas_kit.hookspecs import hookimpl
from tenas_kit.pruner import Candidate, Decision
from tenaskit_builtins.tenas import TenasPruner, combine
from tenaskit_builtins.tenas.rules import sorted_dense_ranks

DEFAULT_SAMPLES = 40


class SampledPruner(TenasPruner):
    name = "sampled"
    description = "prune ops by how the cells sampled from what is left rank (mean combined rank of the cells using each op)"
    cli_options = [
        *TenasPruner.cli_options,
        click.Option(["--prune-samples"], type=click.IntRange(min=2), default=None,
                     help=f"Cells sampled per round by the sampled pruner (default {DEFAULT_SAMPLES})."),
    ]

    def settings(self, options, space_defaults):
        settings = super().settings(options, space_defaults)
        settings["samples"] = int(options.get("prune_samples") or DEFAULT_SAMPLES)
        settings["seed"] = int(options.get("seed") or 0)
        return settings

    def candidates(self, space, mask, settings):
        if not (mask.sum(axis=2) > 1).any():
            return self.edge_candidates(space, mask)
        cells = sample_cells(mask, settings["samples"], rng_for(mask, settings["seed"]))
        return [Candidate((i,), f"cell {i}", cell) for i, cell in enumerate(cells)]

    def decide(self, space, mask, candidates, measurements, settings):
        if len(candidates[0].key) != 1:  # an edge round
            return super().decide(space, mask, candidates, measurements, settings)
        combined = combined_ranks(measurements, settings)
        scores = op_scores(mask, [c.mask for c in candidates], combined)
        new_mask, pruned = prune_worst(space, mask, scores, settings["prune_number"])
        return Decision(new_mask, [], {"combined_rank": combined}, pruned=pruned)


def op_scores(mask, cells, combined):
    """Each alive op's mean combined rank over the sampled cells that use it."""
    stacked = np.stack(cells)  # (samples, cells, edges, ops)
    scores = np.full(mask.shape, np.nan)
    for index in zip(*np.nonzero(mask)):
        scores[index] = combined[stacked[(slice(None), *index)]].mean()
    return scores


def prune_worst(space, mask, scores, prune_number):
    """On every edge with a choice, remove the ``prune_number`` ops of highest score (never the last op)."""
    new_mask, pruned = mask.copy(), []
    for cell, edge in zip(*np.nonzero(mask.sum(axis=2) > 1)):
        alive = np.flatnonzero(mask[cell, edge])
        quota = min(prune_number, len(alive) - 1)
        # Ties go to the op listed last: a fixed order, so a rerun prunes the same op.
        worst = sorted(alive, key=lambda op: (-scores[cell, edge, op], -op))[:quota]
        for op in sorted(worst):
            new_mask[cell, edge, op] = False
            pruned.append(space.layout.label(cell, edge, op))
    return new_mask, pruned


def rng_for(mask, seed):
    """A generator fixed by the run's seed and the round's mask: a resumed run draws the same cells."""
    return np.random.default_rng([seed, *np.packbits(mask.ravel()).tolist()])


def sample_cells(mask, count, rng):
    """``count`` single-op masks drawn from ``mask``: on each edge the alive ops in equal shares, shuffled."""
    cells = np.zeros((count, *mask.shape), dtype=bool)
    for cell, edge in zip(*np.nonzero(mask.any(axis=2))):
        alive = np.flatnonzero(mask[cell, edge])
        ops = np.resize(alive, count)
        cells[np.arange(count), cell, edge, rng.permutation(ops)] = True
    return cells


def combined_ranks(measurements, settings):
    """Each sampled cell's combined rank: per proxy a dense rank (1 the best cell), then the run's rule."""
    ranks = [sorted_dense_ranks(m.values.mean(axis=0), descending=m.higher_is_better)[0] + 1 for m in measurements]
    return combine(ranks, measurements, settings)


@hookimpl
def register_pruners(register):
    register(SampledPruner())
