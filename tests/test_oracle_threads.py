"""An oracle's question runs as a scoring job does: on one PyTorch thread, whatever the process started with.

An oracle that trains (the built-in ``train``) would otherwise take every core in each of the pool's
workers, and its answers would depend on the thread count (the order of float sums).
"""

import textwrap

import torch

from conftest import plugin_offering
from tenas_kit.queries import OracleJob

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
OTHER = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
STARTED_WITH = 3  # more than a job's one thread, whatever the machine's cores


class Threads:
    """Answers the number of PyTorch threads it was measured with."""

    name = "threads"
    description = "answers torch.get_num_threads() inside measure"
    space = None
    metrics = ("threads",)

    def measure(self, space, arch, metric, seed):
        return float(torch.get_num_threads())


def test_an_oracle_measures_on_one_thread_and_the_caller_keeps_its_own(register_plugin):
    register_plugin(plugin_offering(register_oracles=[Threads()]), "threads_plugin")
    before = torch.get_num_threads()
    torch.set_num_threads(STARTED_WITH)
    try:
        assert OracleJob((), "threads", "nb201", CELL, 0)() == 1.0
        assert torch.get_num_threads() == STARTED_WITH
    finally:
        torch.set_num_threads(before)


def test_an_oracle_in_each_worker_of_a_process_pool_measures_on_one_thread(tmp_path, registry):
    # Spawned workers read only real files. A worker's PyTorch starts on one thread per core (capped there even
    # by OMP_NUM_THREADS): the plugin raises it, as if on a machine of STARTED_WITH cores.
    plugin = tmp_path / "threads_oracle.py"
    plugin.write_text(textwrap.dedent(f"""
        import torch
        from tenas_kit.hookspecs import hookimpl

        torch.set_num_threads({STARTED_WITH})

        class Threads:
            name, description, space, metrics = "threads", "answers its thread count", None, ("threads",)

            def measure(self, space, arch, metric, seed):
                return float(torch.get_num_threads())

        @hookimpl
        def register_oracles(register):
            register(Threads())
        """))
    session = registry.get("executor", "process").open({"workers": 2}, "cpu")
    try:
        handles = [session.submit(OracleJob((str(plugin),), "threads", "nb201", arch, 0)) for arch in (CELL, OTHER)]
        assert sorted(value for _, value in session.completed(handles)) == [1.0, 1.0]
    finally:
        session.close()
