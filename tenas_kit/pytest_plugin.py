"""The pytest fixture ``tenaskit_harness`` (entry point ``pytest11``), for the tests of plugin packages.

pytest loads this module in every session of an environment where tenas-kit is installed, so it imports
nothing heavy; the harness itself (``tenas_kit.testing``) is imported by the fixture.
"""

import pytest


@pytest.fixture
def tenaskit_harness():
    """A ``tenas_kit.testing.Harness`` with the default settings; ``tenaskit_harness.use(my_plugin)`` adds a
    plugin that is not installed. Its plugins are forgotten after the test."""
    from tenas_kit.testing import Harness

    with Harness() as harness:
        yield harness
