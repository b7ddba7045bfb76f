"""A harness for plugin authors: from Python, a space, a proxy's context, a score, a pruning round.

Everything runs through the code the commands run (plan, jobs, ranker, engine) on the ``serial``
executor, so a plugin that passes here behaves the same under ``tenaskit run`` and ``rank``. Plugins
given to the harness (module objects, or names and files as ``--plugin`` takes them) join the installed
ones; being in this process, they need no packaging. The harness owns the process's plugin loader while
it is open: one harness at a time. ``tenas_kit.pytest_plugin`` offers it as the fixture ``tenaskit_harness``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tenas_kit import plugins as pluginmod
from tenas_kit.lifecycle import Ranking, Reporter, configure, execute
from tenas_kit.plan import own_options, plan as make_plan
from tenas_kit.pruner import Decision
from tenas_kit.seeds import derive

# Small and reproducible: real images (the embedded photographs), one repeat, this process, the CPU.
DEFAULTS = {"data": "embedded", "repeats": 1, "device": "cpu", "executor": "serial"}


@dataclass
class Round:
    """One pruning round as the engine ran it."""

    mask: np.ndarray  # the supernet measured
    candidates: list  # [tenas_kit.pruner.Candidate]
    measurements: list  # [tenas_kit.pruner.Measurement], one per proxy
    decision: Decision


class Harness:
    """``Harness(plugins=[my_module], space="nb201", ...)``: keyword settings are ``SearchConfig`` fields
    (defaults: ``DEFAULTS``); each method takes more as overrides for that call."""

    def __init__(self, plugins=(), **settings):
        self.config = configure(**{**DEFAULTS, **settings})
        self.specs = ()  # names and files, passed on as --plugin values are
        pluginmod.reset()  # installed plugins as they are now, and nothing left by an earlier harness
        for plugin in plugins:
            self.use(plugin)

    def use(self, plugin, name=None):
        """Add a plugin: a module or object with ``@hookimpl`` functions, or a module name, file or directory.
        A plugin that cannot be used (a broken contract, a taken name) raises TenasError saying why."""
        loader = pluginmod.loader()
        if isinstance(plugin, str):
            loader.load_module(plugin)
            self.specs += (plugin,)
        elif not loader.pm.is_registered(plugin):  # an installed plugin given again is already there
            name = name or getattr(plugin, "__name__", None) or f"harness_plugin_{len(loader.registry.plugins)}"
            loader._add_requested(plugin, name, f"harness plugin {name}")
        return self

    @property
    def registry(self):
        return pluginmod.registry(self.specs)

    @property
    def space(self):
        return self.registry.get("space", self.config.space)

    def context(self, proxy, cell=None, round=0, repeat=0, **overrides):
        """The ``ProxyContext`` that ``proxy`` is prepared with. ``cell`` an architecture's text: as ``rank``
        scores it (the cell rank scores for it, that cell's weights, the data every cell shares). ``cell`` a
        mask, or None for the full supernet: as a search scores that round's supernet."""
        from tenas_kit import ranker
        from tenas_kit.proxy import ProxyContext

        config = configure(self.config, proxies=[(proxy, 1.0)], pruner=None, **overrides)
        plan = make_plan(self.registry, config)
        space = plan.space
        obj, _, settings = plan.proxies[0]
        if isinstance(cell, str):
            scored = ranker.scored_cell(space, space.parse(cell))  # the ranker's own choice of cell and seed
            mask, data_seed = space.arch_to_mask(scored), config.seed
            seed = derive(config.seed, space.name, ranker.seed_name(space, scored))
        else:
            mask = space.layout.full_mask() if cell is None else np.asarray(cell, dtype=bool)
            seed, data_seed = config.seed, None
        return ProxyContext(space=space, mask=mask, dataset=plan.dataset, images=plan.images, device=plan.device,
                            options=own_options(obj, config.options), seed=seed, round=round, repeat=repeat,
                            proxy=obj.name, settings=settings, data_seed=data_seed)

    def score(self, proxy, cell, **overrides):
        """``proxy``'s score of one architecture (its text), as ``tenaskit rank`` computes it."""
        return float(self.rank([cell], [proxy], **overrides).scores[proxy][0])

    def rank(self, cells, proxies, **overrides):
        """Rank architecture texts as ``tenaskit rank`` does, without a store: a ``tenas_kit.ranker.Ranking``.
        ``proxies``: names, or ``(name, weight)`` pairs."""
        config = configure(self.config, proxies=_weighted(proxies), **overrides)
        return Ranking(config, cells, store=None, plugins=self.specs).run()

    def prune_round(self, proxies, pruner="tenas", mask=None, round=0, **overrides):
        """One round of a search: ``pruner``'s candidates for ``mask`` (default: the supernet the pruner starts
        from), measured by ``proxies``, and its decision. None when the pruner offers no candidate."""
        from tenas_kit import engine

        config = configure(self.config, proxies=_weighted(proxies), pruner=pruner, **overrides)
        plan = make_plan(self.registry, config)
        if mask is None:
            mask = plan.pruner.start(plan.space, plan.space.layout.full_mask(), plan.pruner_settings)
        else:
            mask = np.array(mask, dtype=bool)  # the engine makes the round's mask read-only: not the caller's array

        def work(setup, session):
            return engine.prune_round(plan, setup, config, mask, round, session, Reporter())

        done = execute(plan, config, self.specs, work)
        return None if done is None else Round(mask, *done)

    def close(self):
        """Forget the harness's plugins: the next use of the loader reads the installed ones afresh."""
        pluginmod.reset()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _weighted(proxies):
    """``"a"``, ``["a", "b"]`` or ``[("a", 1.0), ...]`` as the weighted list a SearchConfig holds."""
    proxies = [proxies] if isinstance(proxies, str) else proxies
    return [(p, 1.0) if isinstance(p, str) else tuple(p) for p in proxies]
