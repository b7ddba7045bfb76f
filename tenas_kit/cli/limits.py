"""Bounds of the core's numeric options of ``run`` and ``rank`` (plugins bound their own options).

The upper bounds lie far above any useful value; they exist so that a typo
(``--batch-size 72000``, ``--workers 1000000``) is a usage error at once
instead of memory exhaustion or a machine full of processes minutes later.
"""

import click

from tenas_kit.arguments import MAX_REPEATS, MAX_SAMPLE

REPEATS = click.IntRange(1, MAX_REPEATS)  # the API refuses the same values (tenas_kit.arguments)
SAMPLE = click.IntRange(1, MAX_SAMPLE)
