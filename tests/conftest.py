import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CIFAR_MINI = SHARED / "cifar10-jpg-mini" / "train"
NB201_TABLE = SHARED / "nb201_cifar10_accuracy.csv"
TENASKIT = Path(sys.executable).with_name("tenaskit")

# Tests of real data: ../shared/data (the CIFAR-10 sample and the NB201 table). CI always has it, so there
# a missing copy is a broken checkout and fails the test; only on a developer's machine does it skip.
# Skips under CI=true are kept for hardware the machine lacks (CUDA), nothing else.
IN_CI = os.environ.get("CI", "").lower() == "true"
needs_shared = pytest.mark.needs_shared


def shared_absent():
    """Why the shared data cannot be used, or None when it is there."""
    missing = [str(p) for p in (CIFAR_MINI, NB201_TABLE) if not (p.is_dir() if p == CIFAR_MINI else p.is_file())]
    return f"shared data absent: {', '.join(missing)}" if missing else None


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_shared: needs ../shared/data; skips locally without it, fails under CI=true")


def pytest_runtest_setup(item):
    if item.get_closest_marker("needs_shared") and (reason := shared_absent()):
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: CI always has it, so this is a failure, not a skip)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture
def registry():
    from tenas_kit import plugins

    plugins.reset()
    yield plugins.registry()
    plugins.reset()


@pytest.fixture
def nb201(registry):
    return registry.get("space", "nb201")


@pytest.fixture
def register_plugin(registry):
    """``register_plugin(obj, name)`` adds a plugin object (a module, or a namespace of ``@hookimpl``
    functions such as ``plugin_offering`` builds) to the process-wide loader, as an installed entry
    point would be, and returns the registry; the loader is reset after the test. Only this process
    sees it: a command run as a subprocess, or scoring in spawned workers, needs a real file."""
    from tenas_kit import plugins

    def register(obj, name, origin=None):
        plugins.loader().add(obj, name, origin or f"in-process test plugin {name}")
        return registry

    return register


def plugin_offering(**hooks):
    """A plugin object whose hooks register the given objects: ``plugin_offering(register_proxies=[Mine()])``.
    A value that is not a list is taken as the hook function itself (one that raises, say)."""
    from types import SimpleNamespace

    from tenas_kit.hookspecs import hookimpl

    def hook(offered):
        if callable(offered):
            return hookimpl(offered)

        def impl(register):
            for obj in offered:
                register(obj)

        return hookimpl(impl)

    return SimpleNamespace(**{name: hook(offered) for name, offered in hooks.items()})


def call(capsys, *args):
    """Run ``tenaskit ARGS`` in this process: ``(exit code, stdout, stderr)``. The console script's
    start-up (torch) is paid once, not per command, and in-process plugins are visible."""
    from tenas_kit.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def brute_force_ntk(network, inputs):
    """The reference definition: one backward of each sample's summed logits through the batch forward."""
    import torch

    out = network(inputs)
    rows = []
    for i in range(len(inputs)):
        network.zero_grad()
        out[i : i + 1].backward(torch.ones_like(out[i : i + 1]), retain_graph=True)
        rows.append(torch.cat([p.grad.reshape(-1).clone() for n, p in network.named_parameters()
                               if "weight" in n and p.grad is not None]))
    jac = torch.stack(rows)
    return jac @ jac.T


def tenaskit(*args, cwd=None, env=None, timeout=600):
    """Run the installed console script; returns CompletedProcess with text output."""
    full_env = dict(os.environ, COLUMNS="200", **(env or {}))
    return subprocess.run([str(TENASKIT), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout)


# Source of a plugin file whose proxy ``{name}`` scores with ``{body}`` (indented 12 spaces), for tests
# that start the console script: a subprocess cannot see plugins registered in this process.
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
