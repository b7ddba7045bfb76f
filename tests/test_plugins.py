"""Plugins installed through real entry points (a dist-info on the path), used by the CLI."""

import json
import textwrap

import pytest

from conftest import tenaskit

PROXY = '''
from tenas_kit.hookspecs import hookimpl


class WeightCount:
    name = "weightcount"
    description = "number of alive weights in the supernet (throw-away test plugin)"
    higher_is_better = True

    def settings(self, options, space_defaults):
        return {}

    def prepare(self, ctx):
        network = ctx.network("supernet")

        def score(mask):
            network.mask = mask
            network(ctx.batch(2))
            return float(sum(p.numel() for p in network.parameters() if p.grad is None))

        return score


@hookimpl
def register_proxies(register):
    register(WeightCount())
'''


def install(site, dist, module, source, entry_name):
    """Write a module and a dist-info with an entry point in the tenaskit group, as pip would."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[tenaskit]\n{entry_name} = {module}\n")


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "site"
    path.mkdir()
    return path


def test_entry_point_plugin_is_listed_and_used_by_run(site, tmp_path):
    install(site, "throwaway-proxy", "throwaway_proxy", PROXY, "throwaway")
    env = {"PYTHONPATH": str(site)}
    listed = tenaskit("plugins", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "weightcount" in listed.stdout and "throwaway" in listed.stdout
    out = tmp_path / "run.h5"
    run = tenaskit("run", "--proxies", "weightcount,regions", "--data", "synthetic", "--repeats", "1",
                   "--out", out, env=env)
    assert run.returncode == 0, run.stderr
    assert "architecture:" in run.stdout and out.is_file()
    shown = tenaskit("show", out, env=env)
    assert "change weightcount" in shown.stdout


def test_broken_plugins_are_reported_and_the_rest_keep_working(site):
    install(site, "broken-import", "broken_import", "raise RuntimeError('boom at import')\n", "broken_import")
    raising = "from tenas_kit.hookspecs import hookimpl\n\n@hookimpl\ndef register_proxies(register):\n    raise ValueError('hook failed')\n"
    install(site, "broken-hook", "broken_hook", raising, "broken_hook")
    duplicate = "from tenas_kit.hookspecs import hookimpl\nfrom tenaskit_builtins.ntk import NTKCondition\n\n@hookimpl\ndef register_proxies(register):\n    register(NTKCondition())\n"
    install(site, "dup-name", "dup_name", duplicate, "dup_name")
    listed = tenaskit("plugins", "--json", env={"PYTHONPATH": str(site)})
    assert listed.returncode == 0
    report = json.loads(listed.stdout)
    reasons = {b["plugin"]: b["reason"] for b in report["broken"]}
    assert "boom at import" in reasons["broken_import"]
    assert "hook failed" in reasons["broken_hook"]
    assert "already provided by plugin 'ntk'" in reasons["dup_name"]
    names = {(p["kind"], p["name"]): p["plugin"] for p in report["provided"]}
    assert names[("proxy", "ntk")] == "ntk" and ("space", "nb201") in names and ("proxy", "regions") in names


def test_plugin_file_option_loads_an_unpackaged_plugin(tmp_path):
    path = tmp_path / "myproxy.py"
    path.write_text(PROXY)
    listed = tenaskit("plugins", "--plugin", path)
    assert listed.returncode == 0 and "weightcount" in listed.stdout


def test_load_plugins_variable_limits_third_party_plugins(site):
    install(site, "throwaway-proxy", "throwaway_proxy", PROXY, "throwaway")
    listed = tenaskit("plugins", env={"PYTHONPATH": str(site), "TENASKIT_LOAD_PLUGINS": ""})
    assert "weightcount" not in listed.stdout and "nb201" in listed.stdout


def test_plugins_dir_loads_every_python_file(tmp_path):
    folder = tmp_path / "local_plugins"
    folder.mkdir()
    (folder / "first.py").write_text(PROXY)
    (folder / "notes.txt").write_text("not a plugin")
    listed = tenaskit("plugins", "--json", "--plugins-dir", folder)
    assert listed.returncode == 0, listed.stderr
    provided = {(p["kind"], p["name"]): p["plugin"] for p in json.loads(listed.stdout)["provided"]}
    assert provided[("proxy", "weightcount")] == "first"


WRONG_THINGS = '''
from tenas_kit.hookspecs import hookimpl


class NoPrepare:
    name = "noprepare"
    description = "a proxy without prepare"
    higher_is_better = True

    def settings(self, options, space_defaults):
        return {}


@hookimpl
def register_proxies(register):
    register(42)
    register(NoPrepare())
'''

SCORER = '''
from tenas_kit.hookspecs import hookimpl


class Odd:
    name = "{name}"
    description = "a proxy whose scorer misbehaves"
    higher_is_better = True

    def settings(self, options, space_defaults):
        return {{}}

    def prepare(self, ctx):
        def score(mask):
{body}
        return score


@hookimpl
def register_proxies(register):
    register(Odd())
'''


def scorer_plugin(site, name, body):
    install(site, f"odd-{name}", f"odd_{name}", SCORER.format(name=name, body=textwrap.indent(body, " " * 12)), name)
    return {"PYTHONPATH": str(site)}


def test_registering_the_wrong_thing_is_reported_and_the_rest_keep_working(site):
    install(site, "wrong-things", "wrong_things", WRONG_THINGS, "wrong_things")
    listed = tenaskit("plugins", "--json", env={"PYTHONPATH": str(site)})
    assert listed.returncode == 0, listed.stderr
    report = json.loads(listed.stdout)
    reasons = [b["reason"] for b in report["broken"] if b["plugin"] == "wrong_things"]
    assert any("42" in r and "without" in r for r in reasons)
    assert any("prepare" in r for r in reasons)
    provided = {(p["kind"], p["name"]) for p in report["provided"]}
    assert ("proxy", "noprepare") not in provided and ("proxy", "ntk") in provided


@pytest.mark.parametrize("name, body, problem, workers", [
    ("texty", "return 'high'", "returned 'high', not a number", 1),
    ("nothing", "return None", "returned None, not a number", 2),
    ("raiser", "raise ZeroDivisionError('bad cell')", "its scorer raised ZeroDivisionError: bad cell", 2),
])
def test_a_misbehaving_scorer_gets_one_line_naming_its_plugin(site, tmp_path, name, body, problem, workers):
    env = scorer_plugin(site, name, body)
    done = tenaskit("rank", "--proxies", name, "--sample", "3", "--data", "synthetic", "--repeats", "1",
                    "--workers", workers, "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv", env=env)
    assert done.returncode == 1  # a plugin that breaks its contract is a runtime failure, not bad usage
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert f"proxy '{name}' from plugin '{name}'" in lines[0] and problem in lines[0]


def test_nan_and_inf_scores_are_recorded_and_ranked_last(site, tmp_path):
    # NaN for cells whose first edge is a 3x3 convolution, inf for 1x1, the count of ops other than none otherwise.
    body = "if mask[0, 0, 3]:\n    return float('nan')\nif mask[0, 0, 2]:\n    return float('inf')\nreturn float(mask[..., 1:].sum())"
    env = scorer_plugin(site, "nanny", body)
    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join([
        "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
        "|nor_conv_1x1~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
        "|skip_connect~0|+|none~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    ]))
    out = tmp_path / "r.csv"
    done = tenaskit("rank", "--proxies", "nanny", "--archs", archs, "--data", "synthetic", "--repeats", "1",
                    "--store", tmp_path / "s.h5", "--out", out, env=env)
    assert done.returncode == 0, done.stderr
    import csv

    rows = list(csv.DictReader(out.open()))
    assert [r["arch"].split("~")[0] for r in rows] == ["|skip_connect", "|skip_connect", "|nor_conv_3x3", "|nor_conv_1x1"] \
        or [r["arch"].split("~")[0] for r in rows] == ["|skip_connect", "|skip_connect", "|nor_conv_1x1", "|nor_conv_3x3"]
    assert {rows[2]["nanny"], rows[3]["nanny"]} == {"nan", "inf"}
    assert float(rows[0]["nanny"]) > float(rows[1]["nanny"])  # higher is better among the finite ones
    again = tenaskit("rank", "--proxies", "nanny", "--archs", archs, "--data", "synthetic", "--repeats", "1",
                     "--store", tmp_path / "s.h5", "--out", out, env=env)
    assert "0 scores computed" in again.stdout  # NaN and inf came back from the store
    search = tenaskit("run", "--proxies", "nanny,regions", "--data", "synthetic", "--repeats", "1",
                      "--out", tmp_path / "run.h5", env=env)
    assert search.returncode == 0, search.stderr
    assert "architecture:" in search.stdout
