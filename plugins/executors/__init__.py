"""The built-in executors: ``serial`` (this process) and ``process`` (a local pool, one process per core)."""

from __future__ import annotations

import os

import click

from tenas_kit.hookspecs import hookimpl

WORKERS = click.IntRange(1, 256)  # an upper bound so that a typo is a usage error, not a machine full of processes


class SerialExecutor:
    name = "serial"
    description = "every job in this process, one at a time, committed as it finishes"

    def open(self, options, device):
        from .local import InlineSession

        return InlineSession()


class ProcessExecutor:
    name = "process"
    description = "a pool of local processes (--workers, default one per CPU core; 1 on CUDA)"
    cli_options = [
        click.Option(["--workers"], type=WORKERS, default=None,
                     help="Processes scoring jobs (default: one per CPU core, 1 on CUDA); results do not depend on it."),
    ]

    def open(self, options, device):
        from .local import InlineSession, PoolSession

        workers = options.get("workers") or default_workers(device)
        return InlineSession() if workers <= 1 else PoolSession(workers)


def default_workers(device):
    if str(device).startswith("cuda"):
        return 1  # one GPU: processes would only queue for it
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@hookimpl
def register_executors(register):
    register(SerialExecutor())
    register(ProcessExecutor())
