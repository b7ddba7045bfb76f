"""Under CI=true a test of real data fails when ../shared/data is missing instead of skipping silently;
on a developer's machine it skips, with the reason printed. Checked on a copy of conftest.py in a
checkout that has no ../shared next to it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEST = '''
from conftest import needs_shared


@needs_shared
def test_reads_the_shared_images():
    pass
'''


# Under CI the test errors in its setup: pytest's exit status is then 1, as for a failed test.
@pytest.mark.parametrize("ci, outcome, status", [("true", "1 error", 1), ("", "1 skipped", 0)])
def test_a_test_of_shared_data_without_the_data(tmp_path, ci, outcome, status):
    tests = tmp_path / "clone" / "tests"  # ../shared of this clone is tmp_path/shared: absent
    tests.mkdir(parents=True)
    shutil.copy(Path(__file__).with_name("conftest.py"), tests / "conftest.py")
    (tests / "test_shared.py").write_text(TEST)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = ci
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tests)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert outcome in done.stdout and done.returncode == status, done.stdout + done.stderr
    assert f"shared data absent: {tmp_path / 'shared' / 'data'}" in done.stdout  # the reason is shown
    if ci:
        assert "CI=true" in done.stdout
