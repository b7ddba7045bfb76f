"""The built-in ``ray`` executor: scoring jobs as Ray tasks, on a local Ray instance or a cluster.

Ray is an optional extra (``pip install 'tenas-kit[ray]'``). This module registers the executor and declares
its options without importing Ray or PyTorch, so every command starts as fast with the extra as without it;
``open`` imports Ray and, when it is missing, says in one line which extra to install. How to run on several
machines, what travels to the workers and what happens when one dies: docs/scale-out.md.
"""

from __future__ import annotations

import click

from tenas_kit.hookspecs import hookimpl


class RayExecutor:
    name = "ray"
    description = ("Ray tasks on a local Ray instance or a cluster (--ray-address); results stream back as they "
                   "finish (needs the extra: pip install 'tenas-kit[ray]')")
    cli_options = [
        click.Option(["--ray-address"], default=None, metavar="auto|HOST:PORT",
                     help="Ray cluster to join: 'auto' (the one `ray start` started from this machine, or "
                          "RAY_ADDRESS) or its head's HOST:PORT. Without it, a local Ray instance is started on "
                          "this machine's CPUs and stopped at the end."),
        click.Option(["--ray-cpus"], type=click.IntRange(1, 4096), default=None,
                     help="CPUs of the local Ray instance (default: this machine's); a cluster's come from "
                          "`ray start --num-cpus` on each node."),
        click.Option(["--ray-window"], type=click.IntRange(1, 100000), default=None,
                     help="Ray tasks in flight at most (default: 2 per CPU of the cluster); the other jobs wait "
                          "on the driver, so its memory does not grow with the ranking."),
        click.Option(["--ray-shared-data"], is_flag=True, default=False,
                     help="--data names the same images at the same path on every node: workers open it "
                          "themselves instead of receiving the images through Ray's object store."),
    ]

    def open(self, options, device):
        from .session import connect

        return connect(options, device)


@hookimpl
def register_executors(register):
    register(RayExecutor())
