"""First use: listing plugins, ``--help`` and argument errors do not import torch (issue 14).

Importing torch takes seconds and none of these needs it. Each check runs in a
fresh interpreter: this test process imported torch long ago.
"""

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

BUILTIN_ENTRY_POINTS = {  # plugin name -> module under tenaskit_builtins (they may differ: ray -> ray_executor)
    ep.name: ep.value.split(":")[0].removeprefix("tenaskit_builtins.")
    for ep in importlib.metadata.entry_points(group="tenaskit")
    if ep.dist is not None and ep.dist.metadata["Name"] == "tenas-kit"
}
BUILTINS = sorted(BUILTIN_ENTRY_POINTS.values())

# Runs first in every probe. Records the stack of the first import of torch, so a failure names the line
# that pulled it in, and reports at exit, so a command that ends in SystemExit still reports.
WATCH = """
import atexit, json, sys, traceback

class _TorchWatch:
    stack = None

    def find_spec(self, name, path=None, target=None):
        if name == "torch" and _TorchWatch.stack is None:
            frames = [f for f in traceback.extract_stack()[:-1] if not f.filename.startswith("<frozen")]
            _TorchWatch.stack = "".join(traceback.format_list(frames[-8:]))
        return None

sys.meta_path.insert(0, _TorchWatch())
report = {}

@atexit.register
def _report():
    report.update(torch="torch" in sys.modules, stack=_TorchWatch.stack)
    print("\\nSTARTUP-PROBE " + json.dumps(report, default=str), flush=True)
"""

# tenas_kit/__init__.py's imports are the CLI tests' concern; skipping it judges a plugin's own imports alone.
SKIP_PACKAGE_INIT = """
import importlib.util, types
_spec = importlib.util.find_spec("tenas_kit")
_package = types.ModuleType("tenas_kit")
_package.__path__ = list(_spec.submodule_search_locations)
sys.modules["tenas_kit"] = _package
"""


def probe(body):
    """Run ``body`` after WATCH in a fresh interpreter; the report dict, plus the process output."""
    # Built-ins only: a third-party plugin installed in this environment is not what is under test.
    env = dict(os.environ, TENASKIT_LOAD_PLUGINS="", COLUMNS="120")
    env.pop("TENASKIT_NO_PLUGINS", None)
    done = subprocess.run([sys.executable, "-c", WATCH + body], capture_output=True, text=True, env=env, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("STARTUP-PROBE ")]
    output = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert lines, f"the probe ended without reporting (exit {done.returncode})\n{output}"
    return json.loads(lines[-1].removeprefix("STARTUP-PROBE ")), output


def no_torch(report, output, what):
    assert not report["torch"], f"{what} imported torch, first from:\n{report['stack']}\n{output}"


def test_the_builtins_are_found():
    assert {"nb201", "darts", "ntk", "regions", "tenas", "data"} <= set(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_each_builtin_plugin_imports_without_torch(name):
    report, output = probe(SKIP_PACKAGE_INIT + f"import tenaskit_builtins.{name}\nreport['imported'] = True\n")
    assert report.get("imported"), f"tenaskit_builtins.{name} failed to import\n{output}"
    no_torch(report, output, f"importing tenaskit_builtins.{name}")


def test_loading_every_plugin_through_the_registry_leaves_torch_out():
    report, output = probe(
        "from tenas_kit import plugins\n"
        "current = plugins.registry()\n"
        "report['loaded'] = sorted(current.plugins)\n"
        "report['broken'] = [f'{b.plugin}: {b.reason}' for b in current.broken]\n"
    )
    assert "loaded" in report, f"loading the plugins failed\n{output}"
    # A plugin that failed to import proves nothing about its imports.
    assert report["broken"] == [] and set(BUILTIN_ENTRY_POINTS) <= set(report["loaded"]), output
    no_torch(report, output, "plugins.registry()")


@pytest.mark.parametrize(
    "argv, code",
    [(["--help"], 0), (["plugins"], 0), (["run", "--no-such-option"], 2)],
    ids=["help", "plugins", "argument-error"],
)
def test_command_does_not_import_torch(argv, code):
    report, output = probe(
        "from tenas_kit.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "    report['code'] = 0\n"
        "except SystemExit as exit:\n"
        "    report['code'] = exit.code or 0\n"
    )
    assert report.get("code") == code, f"tenaskit {' '.join(argv)}: exit {report.get('code')}, expected {code}\n{output}"
    no_torch(report, output, f"tenaskit {' '.join(argv)}")
