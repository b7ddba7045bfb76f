"""The hooks a tenas-kit plugin may implement (project name ``tenaskit``).

Every hook hands the plugin a ``register`` callback; the plugin calls it once
per object it provides. Built-ins use exactly these hooks.
"""

import pluggy

hookspec = pluggy.HookspecMarker("tenaskit")
hookimpl = pluggy.HookimplMarker("tenaskit")


@hookspec
def register_spaces(register):
    """Register search spaces: ``register(space)`` (see ``tenas_kit.space.SearchSpace``)."""


@hookspec
def register_proxies(register):
    """Register training-free proxies: ``register(proxy)`` (see ``tenas_kit.proxy.Proxy``)."""


@hookspec
def register_pruners(register):
    """Register pruning policies: ``register(pruner)`` (see ``tenas_kit.pruner.Pruner``)."""


@hookspec
def register_data_sources(register):
    """Register image sources: ``register(source)`` (see ``tenas_kit.data.DataSource``)."""


@hookspec
def register_datasets(register):
    """Register dataset presets (normalisation, classes, resolution): ``register(dataset)``."""


@hookspec
def register_commands(cli):
    """Add Click commands to the ``tenaskit`` command group."""
