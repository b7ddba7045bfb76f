"""Accuracy tables (CSV with an ``arch`` column) that turn a found architecture into a number."""

from __future__ import annotations

import csv
from pathlib import Path

from tenas_kit.errors import TenasError


class AccuracyTable:
    def __init__(self, path, column=None):
        path = Path(path)
        if not path.is_file():
            raise TenasError(f"benchmark file '{path}' does not exist; give a CSV with an 'arch' column.")
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            if "arch" not in fields:
                raise TenasError(f"benchmark file '{path}' has no 'arch' column (columns: {', '.join(fields) or 'none'}).")
            self.column = column or next((f for f in fields if "acc" in f.lower()), None)
            if self.column not in fields:
                raise TenasError(f"benchmark file '{path}' has no accuracy column '{self.column}'; pick one of {', '.join(fields)}.")
            self.rows = {row["arch"].strip(): row[self.column] for row in reader}
        self.path = path

    def lookup(self, space, arch_text):
        """Accuracy of an architecture, matching rows by their canonical form; None when absent."""
        if arch_text in self.rows:
            return float(self.rows[arch_text])
        canonical = space.format(space.parse(arch_text))
        for text, value in self.rows.items():
            try:
                if space.format(space.parse(text)) == canonical:
                    return float(value)
            except TenasError:
                continue
        return None
