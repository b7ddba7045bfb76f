"""Plugin manager: built-ins and third-party plugins load through one path.

Every plugin, built-in or not, is an entry point in the ``tenaskit`` group (or a
module named with ``--plugin``). Each is imported and asked for its objects in
isolation, so a broken plugin is reported by name and the others keep working.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from tenas_kit import contract, hookspecs
from tenas_kit.benchmark import Benchmark
from tenas_kit.data import DataSource, Dataset
from tenas_kit.errors import TenasError, TenasRuntimeError, closest, unknown
from tenas_kit.executor import Executor
from tenas_kit.learned import Ranker
from tenas_kit.oracle import Oracle
from tenas_kit.preset import Preset, unresolved
from tenas_kit.proxy import Proxy
from tenas_kit.pruner import Pruner
from tenas_kit.recipe import Recipe
from tenas_kit.space import SearchSpace

GROUP = "tenaskit"
DISTRIBUTION = "tenas-kit"
# Set by ``tenaskit --no-plugins``; an environment variable so that worker processes obey it too.
NO_PLUGINS = "TENASKIT_NO_PLUGINS"

# kind -> (the hook that registers it, the Protocol its objects are checked against)
KINDS = {
    "space": ("register_spaces", SearchSpace),
    "proxy": ("register_proxies", Proxy),
    "pruner": ("register_pruners", Pruner),
    "data_source": ("register_data_sources", DataSource),
    "dataset": ("register_datasets", Dataset),
    "executor": ("register_executors", Executor),
    "preset": ("register_presets", Preset),
    "benchmark": ("register_benchmarks", Benchmark),
    "ranker": ("register_rankers", Ranker),
    "recipe": ("register_recipes", Recipe),
    "oracle": ("register_oracles", Oracle),
}


@dataclass
class Entry:
    obj: object
    plugin: str


@dataclass
class Broken:
    plugin: str
    origin: str
    reason: str


@dataclass
class Registry:
    """Names -> objects for every kind, plus the plugins that failed to load."""

    entries: dict = field(default_factory=lambda: {kind: {} for kind in KINDS})
    plugins: dict = field(default_factory=dict)  # plugin name -> origin
    broken: list = field(default_factory=list)
    options: dict = field(default_factory=dict)  # option flag or name -> (click.Option, who declared it first)

    def get(self, kind, name):
        table = self.entries[kind]
        if name not in table:
            raise TenasError(f"{unknown(kind.replace('_', ' '), name, table)}{self._broken_note(name)}")
        entry = table[name]
        problem = ON_USE[kind](entry.obj, self) if kind in ON_USE else None
        if problem:
            raise TenasError(f"{kind.replace('_', ' ')} '{name}' of plugin '{entry.plugin}' {problem}")
        return entry.obj

    def _broken_note(self, name):
        """A name nobody provides may be one a broken plugin was meant to: say which are broken, and why."""
        if not self.broken:
            return ""
        ordered = sorted(self.broken, key=lambda b: b.plugin != name)  # one named like the request first
        listed = "; ".join(f"plugin '{b.plugin}' is broken: {b.reason}" for b in ordered)
        return f" Perhaps a broken plugin was meant to provide it: {listed} ('tenaskit plugins' lists them)."

    def withdraw(self, kind, name, reason):
        """Take back an object found unusable after its plugin loaded; its plugin is listed as broken."""
        entry = self.entries[kind].pop(name)
        self.broken.append(Broken(entry.plugin, self.plugins.get(entry.plugin, "?"), reason))

    def names(self, kind):
        return list(self.entries[kind])

    def all(self, kind):
        return [entry.obj for entry in self.entries[kind].values()]


class PluginLoader:
    def __init__(self):
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()

    def load_entry_points(self):
        allowed = third_party_allowed()
        for ep in _entry_points_builtins_first():
            builtin = ep.dist is not None and ep.dist.metadata["Name"] == DISTRIBUTION
            if allowed is not None and not builtin and ep.name not in allowed:
                continue
            origin = f"entry point {GROUP}: {ep.name} = {ep.value}"
            if self.pm.get_plugin(ep.name) is not None:
                continue
            try:
                module = ep.load()
            except Exception as exc:  # any import failure must not take the others down
                self._broken(ep.name, origin, f"import failed: {type(exc).__name__}: {exc}")
                continue
            self.add(module, ep.name, origin)

    def load_module(self, spec):
        """``--plugin`` accepts an importable module name, a .py file, or a directory of .py files."""
        if os.environ.get(NO_PLUGINS):
            raise TenasError(f"--plugin {spec} contradicts --no-plugins; leave one of them out.")
        path = Path(spec)
        if path.is_dir():
            for file in sorted(path.glob("*.py")):
                self.load_module(str(file))
            return
        if spec.endswith(".py") or path.exists():
            if not path.is_file():
                raise TenasError(f"plugin file '{spec}' does not exist; pass a .py file or an importable module name.")
            if self.registry.plugins.get(path.stem) == f"file {path}":
                return None  # loaded already: the command line loads it before parsing, the command asks again
            name = f"tenaskit_local_{path.stem}"
            try:
                loader_spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(loader_spec)
                sys.modules[name] = module
                loader_spec.loader.exec_module(module)
            except Exception as exc:
                raise TenasRuntimeError(f"plugin file '{spec}' failed to import: {type(exc).__name__}: {exc}") from None
            return self._add_requested(module, path.stem, f"file {path}")
        try:
            module = importlib.import_module(spec)
        except ModuleNotFoundError as exc:
            if exc.name != spec.split(".")[0] and exc.name != spec:
                raise TenasRuntimeError(f"plugin module '{spec}' failed to import: {type(exc).__name__}: {exc}") from None
            raise TenasError(f"no plugin module '{spec}'; pass an importable module name, a .py file or a directory.") from None
        except Exception as exc:
            raise TenasRuntimeError(f"plugin module '{spec}' failed to import: {type(exc).__name__}: {exc}") from None
        return self._add_requested(module, spec, f"module {spec}")

    def _add_requested(self, module, name, origin):
        """A plugin the user named on the command line: one that cannot load is an error, not a listing."""
        before = len(self.registry.broken)
        self.add(module, name, origin)
        if len(self.registry.broken) > before:
            problem = self.registry.broken[-1]
            raise TenasError(f"plugin {problem.origin} cannot be used: {problem.reason}.")

    def add(self, module, name, origin):
        if self.pm.get_plugin(name) is not None:
            taken_by = self.registry.plugins.get(name)
            if taken_by != origin:  # the same plugin loaded twice is harmless; another of that name is not
                self._broken(name, origin, f"the plugin name '{name}' is taken by {taken_by}; rename this one")
            return
        try:
            self.pm.register(module, name=name)
        except Exception as exc:
            self._broken(name, origin, f"not a valid plugin: {exc}")
            return
        try:
            self.pm.check_pending()  # a hook no spec declares, e.g. a misspelt register_proxy
        except pluggy.PluginValidationError:
            unknown_hooks = _unknown_hooks(self.pm, module)
            self.pm.unregister(module)
            self._broken(name, origin, f"{unknown_hooks} (tenas-kit's hooks are {', '.join(_hook_names())})")
            return
        self.registry.plugins[name] = origin
        for kind in KINDS:
            self._collect(module, name, origin, kind)

    def _collect(self, module, name, origin, kind):
        hook_name, protocol = KINDS[kind]
        impls = [i for i in getattr(self.pm.hook, hook_name).get_hookimpls() if i.plugin is module]
        for impl in impls:
            offered = []
            try:
                impl.function(register=offered.append)
            except Exception as exc:
                self._broken(name, origin, f"{hook_name} raised {type(exc).__name__}: {exc}")
                continue
            for obj in offered:
                problem = contract.problem(obj, kind.replace("_", " "), protocol)
                if problem is None and obj.name in self.registry.entries[kind]:
                    holder = self.registry.entries[kind][obj.name].plugin
                    problem = f"{kind.replace('_', ' ')} name '{obj.name}' is already provided by plugin '{holder}'"
                problem = problem or self._option_clash(obj, kind, name)
                if problem:
                    self._broken(name, origin, problem)
                    continue
                self.registry.entries[kind][obj.name] = Entry(obj, name)
                for option in getattr(obj, "cli_options", ()):
                    for key in option_keys(option):
                        self.registry.options.setdefault(key, (option, declarer(kind, obj.name, name)))

    def _option_clash(self, obj, kind, plugin):
        """Two declarations of one option would reach the command line as one, the first (pytest refuses the
        same). One click.Option object declared by several plugins is one declaration, shared on purpose:
        the zero-cost proxies all list ``tenas_kit.proxy.ZERO_COST_OPTIONS``."""
        for option in getattr(obj, "cli_options", ()):
            for key in option_keys(option):
                held = self.registry.options.get(key)
                if held is not None and held[0] is not option:
                    return (f"{declarer(kind, obj.name, plugin)} declares {key}, which {held[1]} declares already; "
                            f"rename the option, or list that plugin's click.Option object itself to share it")
        return None

    def _broken(self, name, origin, reason):
        self.registry.broken.append(Broken(name, origin, reason))


def _unknown_hooks(pm, module):
    names = sorted(caller.name for caller in pm.get_hookcallers(module) or () if not caller.has_spec())
    return "; ".join(_unknown_hook(name) for name in names)


def _unknown_hook(name):
    meant = closest(name, _hook_names())
    return f"unknown hook '{name}'" + (f"; did you mean '{meant}'?" if meant else "")


def option_keys(option):
    """What two options must not share: their flags, and the name their value arrives under."""
    return [*option.opts, *option.secondary_opts, option.name]


def declarer(kind, name, plugin):
    return f"{kind.replace('_', ' ')} '{name}' of plugin '{plugin}'"


# Checks that need the whole registry, made when an object is asked for: what it names may come from a
# plugin that loads after its own.
ON_USE = {"preset": unresolved}


def _hook_names():
    return [name for name in vars(hookspecs) if name.startswith("register_")]


def third_party_allowed():
    """Names of third-party entry points that may load, or None for all of them."""
    if os.environ.get(NO_PLUGINS):
        return set()
    named = os.environ.get("TENASKIT_LOAD_PLUGINS")
    return None if named is None else {n.strip() for n in named.split(",") if n.strip()}


def _entry_points_builtins_first():
    eps = list(importlib.metadata.entry_points(group=GROUP))
    return sorted(eps, key=lambda ep: (ep.dist is None or ep.dist.metadata["Name"] != DISTRIBUTION))


_loader = None


def loader():
    """The process-wide plugin loader, filled from entry points on first use."""
    global _loader
    if _loader is None:
        _loader = PluginLoader()
        _loader.load_entry_points()
    return _loader


def registry(extra_plugins=()):
    current = loader()
    for spec in extra_plugins:
        current.load_module(spec)
    return current.registry


def reset():
    """Forget loaded plugins (tests, and long-lived processes that install plugins)."""
    global _loader
    _loader = None
