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

needs_shared = pytest.mark.skipif(not CIFAR_MINI.is_dir(), reason="../shared/data is absent (CI always has it)")


@pytest.fixture
def registry():
    from tenas_kit import plugins

    plugins.reset()
    yield plugins.registry()
    plugins.reset()


@pytest.fixture
def nb201(registry):
    return registry.get("space", "nb201")


def tenaskit(*args, cwd=None, env=None, timeout=600):
    """Run the installed console script; returns CompletedProcess with text output."""
    full_env = dict(os.environ, COLUMNS="200", **(env or {}))
    return subprocess.run([str(TENASKIT), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout)
