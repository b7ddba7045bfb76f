"""Plugins: the registry and the contract through plugin objects registered in this process, and the
ways a user loads real plugin files (``--plugin``, ``--plugins-dir``, installed entry points)."""

import csv
import importlib.util
import json
import shutil

import pytest

from conftest import ROOT, SCORER, call, plugin_offering, tenaskit
from tenas_kit.runfile import read

PLUGIN_FILES = ROOT / "tests" / "plugin_files"
TINY = ["--data", "synthetic", "--repeats", "1", "--workers", "1"]  # one process: it sees in-process plugins

# Cells and the number of ops other than none each keeps (what the aliveops proxy scores), best first.
ALIVE = {
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|": 6,
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|": 5,
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|": 4,
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_1x1~2|": 3,
}


def plugin_file(name):
    """A plugin file of tests/plugin_files imported as a module: the object an entry point would load."""
    spec = importlib.util.spec_from_file_location(f"tenaskit_test_{name}", PLUGIN_FILES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Scripted:
    """A proxy whose scorer (or whole ``prepare``) is given: how a test misbehaves on purpose."""

    description = "a proxy scripted by a test"
    higher_is_better = True

    def __init__(self, name, score=None, prepare=None):
        self.name, self._score, self._prepare = name, score, prepare

    def settings(self, options, space_defaults):
        return {}

    def prepare(self, ctx):
        return self._prepare(ctx) if self._prepare else self._score


def read_ranking(path):
    return list(csv.DictReader(path.open()))


def test_a_registered_proxy_is_listed_and_ranks_cells_by_its_score(register_plugin, capsys, tmp_path):
    register_plugin(plugin_file("alive_ops"), "alive_ops")
    code, out, err = call(capsys, "plugins", "--json")
    assert code == 0, err
    provided = {(p["kind"], p["name"]): p["plugin"] for p in json.loads(out)["provided"]}
    assert provided[("proxy", "aliveops")] == "alive_ops"
    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(sorted(ALIVE, key=lambda a: ALIVE[a] % 4)))  # not in score order: 4, 5, 6, 3
    out_csv = tmp_path / "r.csv"
    code, _, err = call(capsys, "rank", "--proxies", "aliveops", "--archs", archs, *TINY,
                        "--store", tmp_path / "s.h5", "--out", out_csv)
    assert code == 0, err
    rows = read_ranking(out_csv)
    assert [r["arch"] for r in rows] == list(ALIVE)  # higher is better: most ops first
    assert [float(r["aliveops"]) for r in rows] == list(ALIVE.values())


def test_a_registered_proxy_drives_a_search_and_is_recorded(register_plugin, capsys, tmp_path):
    register_plugin(plugin_file("alive_ops"), "alive_ops")
    out = tmp_path / "run.h5"
    code, stdout, err = call(capsys, "run", "--proxies", "aliveops,regions", *TINY, "--out", out)
    assert code == 0, err
    assert "architecture:" in stdout and out.is_file()
    run = read(out)
    first = run["rounds"][0]
    assert list(first["proxies"]["aliveops"]["base"]) == [24.0]  # the supernet: 6 edges, 4 ops besides none
    expected = [24.0 - (label.split("/")[-1] != "none") for label in first["labels"]]
    assert list(first["proxies"]["aliveops"]["values"][0]) == expected  # each candidate: one op removed
    found = stdout.split("architecture:")[1].split()[0]
    assert list(run["final"]["aliveops"]) == [6.0 - found.count("none~")]


def test_a_raising_hook_and_a_taken_name_are_broken_and_the_rest_keep_working(register_plugin, capsys):
    from tenaskit_builtins.ntk import NTKCondition

    def register_proxies(register):
        raise ValueError("hook failed")

    register_plugin(plugin_offering(register_proxies=register_proxies), "broken_hook")
    register_plugin(plugin_offering(register_proxies=[NTKCondition()]), "dup_name")
    code, out, _ = call(capsys, "plugins", "--json")
    assert code == 0
    report = json.loads(out)
    reasons = {b["plugin"]: b["reason"] for b in report["broken"]}
    assert "hook failed" in reasons["broken_hook"]
    assert "already provided by plugin 'ntk'" in reasons["dup_name"]
    names = {(p["kind"], p["name"]): p["plugin"] for p in report["provided"]}
    assert names[("proxy", "ntk")] == "ntk" and ("space", "nb201") in names and ("proxy", "regions") in names


def test_registering_the_wrong_thing_is_reported_and_the_rest_keep_working(register_plugin):
    class NoPrepare:
        name = "noprepare"
        description = "a proxy without prepare"
        higher_is_better = True

        def settings(self, options, space_defaults):
            return {}

    registry = register_plugin(plugin_offering(register_proxies=[42, NoPrepare()]), "wrong_things")
    reasons = [b.reason for b in registry.broken if b.plugin == "wrong_things"]
    assert any("42" in r and "without" in r for r in reasons)
    assert any("prepare" in r for r in reasons)
    assert "noprepare" not in registry.names("proxy") and "ntk" in registry.names("proxy")


def _raise(mask):
    raise ZeroDivisionError("bad cell")


@pytest.mark.parametrize("name, score, prepare, problems", [
    ("texty", lambda mask: "high", None, ["its scorer returned 'high'", "not a number"]),
    ("nothing", lambda mask: None, None, ["its scorer returned None", "not a number"]),
    ("raiser", _raise, None, ["raised ZeroDivisionError: bad cell"]),
    ("noscorer", None, lambda ctx: 42, ["prepare returned 42, not a scoring function"]),
])
def test_a_misbehaving_scorer_gets_one_line_naming_its_plugin(register_plugin, capsys, tmp_path, name, score, prepare,
                                                              problems):
    register_plugin(plugin_offering(register_proxies=[Scripted(name, score, prepare)]), "odd")
    code, _, err = call(capsys, "rank", "--proxies", name, "--sample", "3", *TINY,
                        "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv")
    assert code == 1  # a plugin that breaks its contract is a runtime failure, not bad usage
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"Error: proxy '{name}' from plugin 'odd' (in-process test plugin odd): ")
    assert all(problem in lines[0] for problem in problems), lines[0]


def test_a_scorer_failing_in_a_worker_process_gets_the_same_line(registry, capsys, tmp_path):
    # Spawned workers import their plugins themselves: only a real file reaches them.
    code, _, err = call(capsys, "rank", "--plugin", PLUGIN_FILES / "raiser.py", "--proxies", "raiser", "--sample", "3",
                        "--data", "synthetic", "--repeats", "1", "--workers", "2",
                        "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert "proxy 'raiser' from plugin 'raiser'" in lines[0] and "raised ZeroDivisionError: bad cell" in lines[0]


def test_nan_and_inf_scores_are_recorded_and_ranked_last(register_plugin, capsys, tmp_path):
    def nanny(mask):  # NaN when the first edge is a 3x3 convolution, inf for 1x1, else the ops other than none
        if mask[0, 0, 3]:
            return float("nan")
        if mask[0, 0, 2]:
            return float("inf")
        return float(mask[..., 1:].sum())

    register_plugin(plugin_offering(register_proxies=[Scripted("nanny", nanny)]), "nanny")
    archs = tmp_path / "archs.txt"  # each its class's representative, the cell rank scores (docs/ranking.md)
    archs.write_text("\n".join([
        "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
        "|nor_conv_1x1~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
        "|skip_connect~0|+|none~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    ]))
    out = tmp_path / "r.csv"
    args = ["rank", "--proxies", "nanny", "--archs", archs, *TINY, "--store", tmp_path / "s.h5", "--out", out]
    code, _, err = call(capsys, *args)
    assert code == 0, err
    rows = read_ranking(out)
    firsts = [r["arch"].split("~")[0] for r in rows]
    assert firsts[:2] == ["|skip_connect", "|skip_connect"] and set(firsts[2:]) == {"|nor_conv_3x3", "|nor_conv_1x1"}
    assert [float(r["nanny"]) for r in rows[:2]] == [6.0, 5.0]  # higher is better among the finite ones
    assert {rows[2]["nanny"], rows[3]["nanny"]} == {"nan", "inf"}
    code, again, _ = call(capsys, *args)
    assert code == 0 and "0 scores computed" in again  # NaN and inf came back from the store
    code, search, err = call(capsys, "run", "--proxies", "nanny,regions", *TINY, "--out", tmp_path / "run.h5")
    assert code == 0, err
    assert "architecture:" in search


# ---- real files: the ways a user loads a plugin -------------------------------------------------

def test_plugin_file_option_loads_an_unpackaged_plugin(registry, capsys):
    code, out, err = call(capsys, "plugins", "--json", "--plugin", PLUGIN_FILES / "alive_ops.py")
    assert code == 0, err
    provided = {(p["kind"], p["name"]): p["plugin"] for p in json.loads(out)["provided"]}
    assert provided[("proxy", "aliveops")] == "alive_ops"


def test_plugins_dir_loads_every_python_file(registry, capsys, tmp_path):
    folder = tmp_path / "local_plugins"
    folder.mkdir()
    shutil.copy(PLUGIN_FILES / "alive_ops.py", folder / "first.py")
    (folder / "notes.txt").write_text("not a plugin")
    code, out, err = call(capsys, "plugins", "--json", "--plugins-dir", folder)
    assert code == 0, err
    provided = {(p["kind"], p["name"]): p["plugin"] for p in json.loads(out)["provided"]}
    assert provided[("proxy", "aliveops")] == "first"


@pytest.mark.parametrize("stem", ["presets", "ntk"])
def test_a_plugin_file_named_like_an_installed_plugin_is_refused_in_one_line(registry, capsys, tmp_path, stem):
    """Its hooks would be silently ignored otherwise: the name is how pluggy tells plugins apart."""
    clash = tmp_path / f"{stem}.py"
    shutil.copy(PLUGIN_FILES / "alive_ops.py", clash)
    code, out, err = call(capsys, "plugins", "--json", "--plugin", clash)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"Error: plugin file {clash} cannot be used: the plugin name '{stem}' is "
                                        f"taken by entry point tenaskit: {stem} = tenaskit_builtins.{stem}; "
                                        "rename this one."]


def install(site, dist, plugin, entry_name):
    """Copy a plugin file into ``site`` with a dist-info declaring it in the tenaskit group, as pip would."""
    shutil.copy(PLUGIN_FILES / f"{plugin}.py", site / f"{plugin}.py")
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[tenaskit]\n{entry_name} = {plugin}\n")
    return {"PYTHONPATH": str(site)}


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "site"
    path.mkdir()
    return path


def test_an_entry_point_whose_import_fails_is_broken_and_the_rest_keep_working(site):
    env = install(site, "broken-import", "broken_import", "broken_import")
    listed = tenaskit("plugins", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    reasons = {b["plugin"]: b["reason"] for b in report["broken"]}
    assert "import failed" in reasons["broken_import"] and "boom at import" in reasons["broken_import"]
    names = {(p["kind"], p["name"]) for p in report["provided"]}
    assert ("proxy", "ntk") in names and ("space", "nb201") in names


def test_load_plugins_variable_limits_third_party_plugins(site):
    env = install(site, "throwaway-proxy", "alive_ops", "throwaway")
    named = tenaskit("plugins", env={**env, "TENASKIT_LOAD_PLUGINS": "throwaway"})
    assert "aliveops" in named.stdout  # the entry point works when allowed
    none = tenaskit("plugins", env={**env, "TENASKIT_LOAD_PLUGINS": ""})
    assert "aliveops" not in none.stdout and "nb201" in none.stdout


# ---- what a plugin author sees ---------------------------------------------------------------------

def test_debug_shows_a_traceback_that_ends_in_the_plugins_line(registry, capsys, tmp_path):
    args = ["rank", "--plugin", PLUGIN_FILES / "raiser.py", "--proxies", "raiser", "--sample", "2",
            "--data", "synthetic", "--repeats", "1", "--executor", "serial",
            "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv"]
    code, _, err = call(capsys, *args)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.strip().endswith("(rerun with --debug for the plugin's traceback)")
    code, _, err = call(capsys, "--debug", *args)
    assert code == 1
    frames = [line for line in err.splitlines() if line.lstrip().startswith("File ")]
    assert "raiser.py" in frames[-1] and "in score" in frames[-1]  # the innermost frame is the plugin's
    assert "--debug" not in err.strip().splitlines()[-1]


def test_debug_shows_the_plugins_line_from_a_worker_process(registry, capsys, tmp_path):
    code, _, err = call(capsys, "--debug", "rank", "--plugin", PLUGIN_FILES / "raiser.py", "--proxies", "raiser",
                        "--sample", "2", "--data", "synthetic", "--repeats", "1", "--workers", "2",
                        "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv")
    assert code == 1
    assert 'raise ZeroDivisionError("bad cell")' in err  # the worker's traceback, printed as the cause


def test_a_one_element_tensor_requiring_grad_is_a_score_and_stderr_stays_quiet(tmp_path):
    # A console script: PyTorch warns about such a conversion once per process.
    plugin = tmp_path / "graded.py"
    plugin.write_text(SCORER.format(name="graded", body=" " * 12 + "import torch\n" + " " * 12 +
                                    "return torch.ones(1, requires_grad=True) * float(mask[..., 1:].sum())"))
    out = tmp_path / "r.csv"
    done = tenaskit("rank", "--plugin", plugin, "--proxies", "graded", "--archs", _archs(tmp_path), "--data",
                    "synthetic", "--repeats", "1", "--executor", "serial", "--store", tmp_path / "s.h5", "--out", out)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert [float(r["graded"]) for r in read_ranking(out)] == list(ALIVE.values())


def _archs(tmp_path):
    path = tmp_path / "archs.txt"
    path.write_text("\n".join(ALIVE))
    return path


def test_plugin_supplied_text_is_printed_as_written(register_plugin, capsys, tmp_path):
    class Bracketed(Scripted):
        description = "needs tenas-kit[ray] and [bold]nothing bold[/bold]"

    register_plugin(plugin_offering(register_proxies=[Bracketed("tag[b]", lambda mask: 1.0)]), "bracket[ed]")
    register_plugin(plugin_offering(register_proxies=lambda register: 1 / 0), "fails[red]")
    code, out, err = call(capsys, "plugins")
    assert code == 0, err
    text = " ".join(out.split())
    assert "tenas-kit[ray]" in text and "[bold]nothing" in text and "bracket[ed]" in text and "fails[red]" in text
    code, out, err = call(capsys, "rank", "--proxies", "tag[b]", "--sample", "2", *TINY,
                          "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv")
    assert code == 0 and "tag[b]" in out, err


def test_a_rounds_line_prints_pruned_labels_as_written():
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from tenas_kit.cli.progress import RichReporter

    out = io.StringIO()
    decision = SimpleNamespace(pruned_labels=lambda candidates: ["cell/[red]1<-0/x"])
    RichReporter(Console(file=out, width=200)).round_finished(0, [], decision, 1.0)
    assert "pruned 1 in 1.0 s" in out.getvalue() and "cell/[red]1<-0/x" in out.getvalue()


def test_options_of_a_plugin_file_are_on_the_command_line(registry, capsys, tmp_path):
    out = tmp_path / "r.csv"
    code, _, err = call(capsys, "rank", "--plugin", PLUGIN_FILES / "leveled.py", "--proxies", "leveled", "--level", "7",
                        "--archs", _archs(tmp_path), *TINY, "--store", tmp_path / "s.h5", "--out", out)
    assert code == 0, err
    assert {float(r["leveled"]) for r in read_ranking(out)} == {7.0}
    code, out, err = call(capsys, "rank", "--plugin", PLUGIN_FILES / "leveled.py", "--help")
    assert code == 0 and "--level" in out
