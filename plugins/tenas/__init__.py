"""TE-NAS pruning (Chen, Gong, Wang, ICLR 2021) as a tenas-kit pruning policy.

Each round measures removing every alive op on every edge that still has a
choice, ranks the moves by each proxy's relative change, and on each edge
removes the ``prune_number`` ops whose weighted rank sum is lowest. When every
edge holds one op and the space keeps only some edges per node
(``layout.edge_groups``), edge rounds remove, per group, the edges whose
removal costs least, until each group keeps its quota.
"""

import click
import numpy as np

from tenas_kit.hookspecs import hookimpl
from tenas_kit.pruner import Candidate, Decision
from .rules import relative_change, sorted_dense_ranks
from tenas_kit.space import ZERO


class TenasPruner:
    name = "tenas"
    description = "TE-NAS: prune ops by the rank sum of kappa_N and R_N changes, then edges"
    cli_options = [
        click.Option(["--prune-number"], type=click.IntRange(min=1), default=None,
                     help="Ops pruned per edge per round (default: the space's; 1 for nb201)."),
    ]

    def settings(self, options, space_defaults):
        settings = {"prune_number": int(options.get("prune_number") or space_defaults.get("prune_number", 1))}
        if options.get("combine", "rank_sum") != "rank_sum":  # a preset's rule; TE-NAS's own stays unrecorded
            settings["combine"] = options["combine"]
        return settings

    def start(self, space, mask, settings):
        mask = mask.copy()
        if ZERO in space.layout.ops:
            mask[:, :, space.layout.ops.index(ZERO)] = False
        return mask

    def candidates(self, space, mask, settings):
        ops = self.op_candidates(space, mask)
        return ops if ops else self.edge_candidates(space, mask)

    def op_candidates(self, space, mask):
        found = []
        for cell, edge in zip(*np.nonzero(mask.sum(axis=2) > 1)):
            for op in np.flatnonzero(mask[cell, edge]):
                moved = mask.copy()
                moved[cell, edge, op] = False
                found.append(Candidate((int(cell), int(edge), int(op)), space.layout.label(cell, edge, op), moved))
        return found

    def edge_candidates(self, space, mask):
        found = []
        for cell in range(mask.shape[0]):
            for edges, keep in space.layout.edge_groups:
                alive = [e for e in edges if mask[cell, e].any()]
                if len(alive) <= keep:
                    continue
                for edge in alive:
                    moved = mask.copy()
                    moved[cell, edge] = False
                    found.append(Candidate((cell, edge), space.layout.label(cell, edge), moved))
        return found

    def decide(self, space, mask, candidates, measurements, settings):
        columns, importance, first_order, all_ranks = {}, np.zeros(len(candidates)), None, []
        for m in measurements:
            change = relative_change(m.base, m.values)
            # Rank 0 is the move that helps the proxy most (or hurts it least).
            ranks, order = sorted_dense_ranks(change, descending=not m.higher_is_better)
            columns[f"change_{m.proxy}"], columns[f"rank_{m.proxy}"] = change, ranks
            importance += m.weight * ranks
            all_ranks.append(ranks + 1)
            first_order = order if first_order is None else first_order
        if settings.get("combine", "rank_sum") != "rank_sum":
            # A preset's rule (tenas_kit.preset) in place of the rank sum; the sum above stays TE-NAS's own.
            importance = combine(all_ranks, measurements, settings)
        # Ties in the rank sum keep the first proxy's order, as the reference's stable sort does.
        position = {index: p for p, index in enumerate(first_order)}
        by_importance = sorted(range(len(candidates)), key=lambda i: (importance[i], position[i]))
        removed = self.choose(candidates, by_importance, mask, space, settings)
        new_mask = mask.copy()
        for i in removed:
            new_mask &= candidates[i].mask
        columns["importance"] = importance
        columns["removed"] = np.isin(np.arange(len(candidates)), removed)
        return Decision(new_mask, sorted(removed), columns)

    def choose(self, candidates, by_importance, mask, space, settings):
        """Per edge (op moves) or per node group (edge moves): the least important, within quota."""
        quota, taken, removed = {}, {}, []
        for i in by_importance:
            key = candidates[i].key
            if len(key) == 3:
                group = key[:2]
                quota.setdefault(group, min(settings["prune_number"], int(mask[key[0], key[1]].sum()) - 1))
            else:
                edges, keep = next((g, k) for g, k in space.layout.edge_groups if key[1] in g)
                group = (key[0], edges)
                quota.setdefault(group, sum(bool(mask[key[0], e].any()) for e in edges) - keep)
            if taken.get(group, 0) < quota[group]:
                taken[group] = taken.get(group, 0) + 1
                removed.append(i)
        return removed


def combine(ranks, measurements, settings):
    """The run's rule (``settings['combine']``, TE-NAS's rank sum when absent) over per-proxy ranks."""
    from tenas_kit import plugins
    from tenas_kit.plan import combination_rule

    rule = combination_rule(plugins.registry(), settings.get("combine", "rank_sum"))
    return np.asarray(rule(ranks, [m.weight for m in measurements]), dtype=float)


@hookimpl
def register_pruners(register):
    register(TenasPruner())
