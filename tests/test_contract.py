"""Plugin contracts: each kind's Protocol is checked when a plugin loads, unknown hooks break the plugin."""

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import call, plugin_offering
from tenas_kit.contract import members
from tenas_kit.errors import TenasError
from tenas_kit.hookspecs import hookimpl


class Scorer:
    name = "scorer"
    description = "counts alive ops"
    higher_is_better = True

    def settings(self, options, space_defaults):
        return {}

    def prepare(self, ctx):
        return lambda mask: float(mask.sum())


def broken_reason(registry, plugin):
    reasons = [b.reason for b in registry.broken if b.plugin == plugin]
    assert reasons, f"plugin '{plugin}' was not listed as broken"
    return reasons[0]


def test_a_misspelt_hook_breaks_the_plugin_and_names_the_hook(register_plugin):
    @hookimpl
    def register_proxy(register):  # the hook is register_proxies
        register(Scorer())

    registry = register_plugin(SimpleNamespace(register_proxy=register_proxy), "typo")
    assert "unknown hook 'register_proxy'" in broken_reason(registry, "typo")
    assert "scorer" not in registry.names("proxy")
    assert "typo" not in registry.plugins


def test_asking_for_a_broken_plugins_name_says_it_is_broken(register_plugin):
    @hookimpl
    def register_proxy(register):
        register(Scorer())

    registry = register_plugin(SimpleNamespace(register_proxy=register_proxy), "typo")
    with pytest.raises(TenasError, match="plugin 'typo' is broken: unknown hook 'register_proxy'"):
        registry.get("proxy", "typo")


def test_the_command_line_names_the_broken_plugin(register_plugin, capsys):
    @hookimpl
    def register_proxy(register):
        register(Scorer())

    register_plugin(SimpleNamespace(register_proxy=register_proxy), "typo")
    code, _, err = call(capsys, "rank", "--proxies", "typo", "--data", "synthetic", "--sample", "2")
    assert code == 2 and "plugin 'typo' is broken" in err and "register_proxy" in err


@pytest.mark.parametrize("drop, expected", [
    ("prepare", "without prepare (the contract: tenas_kit.proxy.Proxy)"),
    ("higher_is_better", "without higher_is_better"),
])
def test_an_object_missing_a_required_member_is_refused_naming_the_protocol(register_plugin, drop, expected):
    members_ = {k: getattr(Scorer, k) for k in ("name", "description", "higher_is_better", "settings", "prepare")}
    del members_[drop]
    incomplete = type("Incomplete", (), members_)()
    registry = register_plugin(plugin_offering(register_proxies=[incomplete]), "incomplete")
    assert expected in broken_reason(registry, "incomplete")
    assert "scorer" not in registry.names("proxy")


def test_a_member_that_must_be_callable_is_checked(register_plugin):
    odd = Scorer()
    odd.prepare = "not a function"
    registry = register_plugin(plugin_offering(register_proxies=[odd]), "odd")
    assert "prepare must be callable" in broken_reason(registry, "odd")


def test_optional_members_may_be_left_out(register_plugin):
    registry = register_plugin(plugin_offering(register_proxies=[Scorer()]), "minimal")
    assert registry.get("proxy", "scorer").name == "scorer"  # no cli_options: optional
    assert not [b for b in registry.broken if b.plugin == "minimal"]


def test_an_executor_without_open_is_refused(register_plugin):
    class NoOpen:
        name, description = "nowhere", "cannot run anything"

    registry = register_plugin(plugin_offering(register_executors=[NoOpen()]), "noopen")
    assert "without open (the contract: tenas_kit.executor.Executor)" in broken_reason(registry, "noopen")


def test_each_protocol_states_its_optional_members():
    from tenas_kit.executor import Executor
    from tenas_kit.proxy import Proxy
    from tenas_kit.space import SearchSpace

    required, optional = members(SearchSpace)
    assert set(optional) == {"canonical", "representative", "enumerate", "sample", "to_json", "neighbours",
                             "train_network", "features"}
    assert {"name", "layout", "network", "parse", "format", "arch_to_mask", "mask_to_arch", "defaults"} <= set(required)
    assert members(Proxy)[1] == ["cli_options"]
    assert members(Executor)[1] == ["cli_options"]


def test_every_builtin_meets_its_contract(registry):
    assert registry.broken == []
    assert {"serial", "process"} <= set(registry.names("executor"))


def test_the_core_has_no_import_cycle():
    """engine and workers once imported each other; the core's modules must form a DAG."""
    root = Path(__file__).resolve().parents[1] / "tenas_kit"
    modules = {".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in root.rglob("*.py")}
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tenas_kit"):
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                graph[name] |= {t for t in targets if t in modules and t != name}
    # A package's __init__ importing its own submodules is how a package is assembled, not a cycle.
    graph = {n: {t for t in ts if not t.startswith(n + ".")} for n, ts in graph.items()}
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", "import cycle: " + " -> ".join(trail + [node])
        state[node] = "open"
        for target in sorted(graph[node]):
            visit(target, trail + [node])
        state[node] = "done"

    for name in sorted(graph):
        visit(name, [])


# ---- options: one declaration per option name ----------------------------------------------------

def with_options(name, *options):
    proxy = Scorer()
    proxy.name, proxy.cli_options = name, list(options)
    return proxy


def test_an_option_another_plugin_declares_is_refused_naming_both_plugins(register_plugin):
    import click

    mine = with_options("mine", click.Option(["--batch-size"], type=int, default=None))
    registry = register_plugin(plugin_offering(register_proxies=[mine]), "batcher")
    reason = broken_reason(registry, "batcher")
    assert "proxy 'mine' of plugin 'batcher' declares --batch-size" in reason
    assert "proxy 'ntk' of plugin 'ntk'" in reason
    assert "mine" not in registry.names("proxy")


def test_sharing_the_declaration_itself_is_not_a_clash(register_plugin):
    from tenas_kit.proxy import ZERO_COST_OPTIONS

    registry = register_plugin(plugin_offering(register_proxies=[with_options("sharer", *ZERO_COST_OPTIONS)]),
                               "sharer")
    assert "sharer" in registry.names("proxy") and not [b for b in registry.broken if b.plugin == "sharer"]


def test_an_option_of_the_command_itself_is_refused(register_plugin, capsys):
    import click

    register_plugin(plugin_offering(register_proxies=[with_options("seeded", click.Option(["--seed"], type=int))]),
                    "seeded")
    code, out, err = call(capsys, "plugins", "--json")
    assert code == 0, err
    report = json.loads(out)
    (reason,) = [b["reason"] for b in report["broken"] if b["plugin"] == "seeded"]
    assert "proxy 'seeded' of plugin 'seeded' declares --seed" in reason and "tenaskit run's own option" in reason
    assert ("proxy", "seeded") not in {(p["kind"], p["name"]) for p in report["provided"]}


# ---- misspelt hooks, and names nobody provides -----------------------------------------------------

@pytest.mark.parametrize("hook", ["register_proxy", "regster_proxies"])
def test_a_misspelt_hook_is_told_the_hook_it_meant(register_plugin, hook):
    registry = register_plugin(SimpleNamespace(**{hook: hookimpl(lambda register: register(Scorer()))}), "typo")
    assert f"unknown hook '{hook}'; did you mean 'register_proxies'?" in broken_reason(registry, "typo")


def test_an_unknown_name_mentions_the_broken_plugins(register_plugin, capsys):
    register_plugin(SimpleNamespace(register_proxy=hookimpl(lambda register: register(Scorer()))), "typo")
    code, _, err = call(capsys, "rank", "--proxies", "scorer", "--data", "synthetic", "--sample", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "unknown proxy 'scorer'" in err and "broken" in err
    assert "'typo'" in err and "did you mean 'register_proxies'?" in err


# ---- presets: what they list is checked when they load ---------------------------------------------

class Listed:
    description = "a preset of a test"
    combine = "rank_sum"

    def __init__(self, name, proxies, combine="rank_sum"):
        self.name, self.proxies, self.combine = name, proxies, combine


@pytest.mark.parametrize("proxies, combine, problem", [
    (["synflow", "params"], "rank_sum", "proxies must be a list of (proxy name, weight) pairs"),
    ([("synflow", "1")], "rank_sum", "proxies must be a list of (proxy name, weight) pairs"),
    ([], "rank_sum", "proxies must be a list of (proxy name, weight) pairs"),
    ([("synflow", 1.0)], "rank_summ", "combine 'rank_summ' is no rule"),
])
def test_a_malformed_preset_is_refused_at_load_naming_it(register_plugin, capsys, proxies, combine, problem):
    registry = register_plugin(plugin_offering(register_presets=[Listed("shaky", proxies, combine)]), "shaky_plugin")
    assert f"preset 'shaky': {problem}" in broken_reason(registry, "shaky_plugin")
    code, _, err = call(capsys, "rank", "--preset", "shaky", "--data", "synthetic", "--sample", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "preset 'shaky'" in err and "'shaky_plugin'" in err and "unpack" not in err


def test_a_preset_naming_an_unknown_proxy_names_itself_and_its_plugin(register_plugin, capsys):
    register_plugin(plugin_offering(register_presets=[Listed("ghostly", [("synflow", 1.0), ("ghost", 1.0)])]),
                    "ghost_plugin")
    code, _, err = call(capsys, "rank", "--preset", "ghostly", "--data", "synthetic", "--sample", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "preset 'ghostly' of plugin 'ghost_plugin' names unknown proxy 'ghost'" in err
