"""Accuracy tables (CSV with an ``arch`` column) that turn a found architecture into a number."""

from __future__ import annotations

from pathlib import Path

from tenas_kit.errors import TenasError
from tenas_kit.textfiles import csv_rows, number, read_text


class AccuracyTable:
    def __init__(self, path, column=None):
        path = Path(path)
        if not path.is_file():
            raise TenasError(f"benchmark file '{path}' does not exist; give a CSV with an 'arch' column.")
        what = "benchmark file"
        fields, rows = csv_rows(read_text(path, what), path, what)
        if "arch" not in fields:
            raise TenasError(f"benchmark file '{path}' has no 'arch' column (columns: {', '.join(fields) or 'none'}).")
        self.column = column or next((f for f in fields if "acc" in f.lower()), None)
        if self.column not in fields:
            raise TenasError(f"benchmark file '{path}' has no accuracy column '{self.column}'; pick one of {', '.join(fields)}.")
        # Every cell is checked now, not when an architecture is looked up: a bad table is refused before a
        # search spends its time, and the message can name the line.
        self.rows = {}
        for where, row in rows:
            value = number(row.get(self.column), path, where, self.column, what)
            if value is not None and (row.get("arch") or "").strip():  # an empty cell: no accuracy recorded
                self.rows[row["arch"].strip()] = value
        self.path = path

    def lookup(self, space, arch_text):
        """Accuracy of an architecture, matching rows by their canonical form; None when absent."""
        if arch_text in self.rows:
            return self.rows[arch_text]
        canonical = space.format(space.parse(arch_text))
        for text, value in self.rows.items():
            try:
                if space.format(space.parse(text)) == canonical:
                    return value
            except TenasError:
                continue
        return None
