"""The example plugin package, pip-installed for real, works in run, rank and as a command."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, tenaskit

EXAMPLE = ROOT / "plugins" / "examples" / "tenaskit-example-proxy"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, cwd=build,
    )
    assert result.returncode == 0, result.stderr
    assert any(p.name.startswith("tenaskit_example_proxy-") for p in Path(target).iterdir())
    return {"PYTHONPATH": str(target)}


def test_example_plugin_is_listed_with_its_command(installed):
    listed = tenaskit("plugins", "--json", env=installed)
    assert '"name": "weightnorm"' in listed.stdout and '"plugin": "example_proxy"' in listed.stdout
    hello = tenaskit("example-hello", env=installed)
    assert hello.returncode == 0 and "hello from tenaskit-example-proxy" in hello.stdout


def test_example_proxy_drives_run_and_rank(installed, tmp_path):
    run = tenaskit("run", "--proxies", "weightnorm,regions:0.5", "--data", "synthetic", "--repeats", "1",
                   "--out", tmp_path / "run.h5", "--workers", "1", env=installed)
    assert run.returncode == 0, run.stderr
    assert "architecture:" in run.stdout
    rank = tenaskit("rank", "--proxies", "weightnorm", "--sample", "5", "--data", "synthetic", "--repeats", "1",
                    "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv", "--workers", "1", env=installed)
    assert rank.returncode == 0, rank.stderr
    assert (tmp_path / "r.csv").read_text().startswith("rank,arch,rank_sum,weightnorm")


def test_example_packages_own_tests_pass_with_the_harness_fixture(installed):
    """Its tests use the fixture tenaskit_harness that tenas-kit's pytest plugin (entry point pytest11) provides."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=EXAMPLE,
                            capture_output=True, text=True, env=dict(os.environ, **installed), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout
