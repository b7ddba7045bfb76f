"""Bounds of the core's numeric options of ``run`` and ``rank`` (plugins bound their own options).

The upper bounds lie far above any useful value; they exist so that a typo
(``--batch-size 72000``, ``--workers 1000000``) is a usage error at once
instead of memory exhaustion or a machine full of processes minutes later.
"""

import click

REPEATS = click.IntRange(1, 1000)
SAMPLE = click.IntRange(1, 10_000_000)
