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
    duplicate = "from tenas_kit.hookspecs import hookimpl\nfrom tenaskit_ntk import NTKCondition\n\n@hookimpl\ndef register_proxies(register):\n    register(NTKCondition())\n"
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
