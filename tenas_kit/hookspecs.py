"""The hooks a tenas-kit plugin may implement (project name ``tenaskit``).

Every ``register_*`` hook hands the plugin a ``register`` callback; the plugin
calls it once per object it provides, and each object is checked against the
Protocol of its kind when the plugin loads. A hook of any other name makes the
plugin broken (pluggy's ``check_pending``). Built-ins use exactly these hooks.
"""

import pluggy

hookspec = pluggy.HookspecMarker("tenaskit")
hookimpl = pluggy.HookimplMarker("tenaskit")


@hookspec
def register_spaces(register):
    """Register search spaces: ``register(space)`` (``tenas_kit.space.SearchSpace``)."""


@hookspec
def register_proxies(register):
    """Register training-free proxies: ``register(proxy)`` (``tenas_kit.proxy.Proxy``)."""


@hookspec
def register_pruners(register):
    """Register pruning policies: ``register(pruner)`` (``tenas_kit.pruner.Pruner``)."""


@hookspec
def register_data_sources(register):
    """Register image sources: ``register(source)`` (``tenas_kit.data.DataSource``)."""


@hookspec
def register_datasets(register):
    """Register dataset presets: ``register(dataset)`` (``tenas_kit.data.Dataset``)."""


@hookspec
def register_executors(register):
    """Register executors, where scoring jobs run: ``register(executor)`` (``tenas_kit.executor.Executor``)."""


@hookspec
def register_presets(register):
    """Register presets, named weighted proxy sets with a combination rule: ``register(preset)``
    (``tenas_kit.preset.Preset``)."""


@hookspec
def register_benchmarks(register):
    """Register benchmark tables, measured accuracies of a space's cells: ``register(benchmark)``
    (``tenas_kit.benchmark.Benchmark``)."""


@hookspec
def register_recipes(register):
    """Register training recipes, how ``tenaskit train`` trains a cell: ``register(recipe)``
    (``tenas_kit.recipe.Recipe``)."""


@hookspec
def register_rankers(register):
    """Register rankers that learn from labels: ``register(ranker)`` (``tenas_kit.learned.Ranker``)."""


@hookspec
def register_oracles(register):
    """Register oracles, what measures a cell's accuracy when a search spends queries: ``register(oracle)``
    (``tenas_kit.oracle.Oracle``)."""


@hookspec
def register_commands(cli):
    """Add Click commands to the ``tenaskit`` command group."""
