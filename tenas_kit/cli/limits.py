"""Bounds of the numeric options of ``run`` and ``rank``.

The upper bounds lie far above any useful value; they exist so that a typo
(``--batch-size 72000``, ``--workers 1000000``) is a usage error at once
instead of memory exhaustion or a machine full of processes minutes later.
"""

import click

REPEATS = click.IntRange(1, 1000)
BATCH = click.IntRange(2, 4096)
WORKERS = click.IntRange(1, 256)
SAMPLE = click.IntRange(1, 10_000_000)
