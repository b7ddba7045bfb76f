"""Text files a user hands in (architecture lists, benchmark tables, ranking results): read strictly.

What is wrong with such a file is the user's to fix, so it is a usage error (``TenasError``, exit 2) that
names the file and the line: bytes that are not UTF-8, a row the CSV reader cannot split, a CSV whose last
line is cut, a cell that should hold a number and does not.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from tenas_kit.errors import TenasError, TenasRuntimeError

# A plain decimal number, as a benchmark or a results file writes one. Python's float() also takes "1_000",
# "infinity" and surrounding whitespace, none of which belongs in such a file.
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
NON_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)
FORMULA = ("=", "+", "-", "@")  # what a spreadsheet reads as the start of a formula


def read_text(path, what):
    """The file's text; ``what`` names the file in messages (e.g. "--archs file")."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TenasRuntimeError(f"cannot read {what} '{path}': {exc.strerror or exc}.") from None
    try:
        return data.decode("utf-8-sig")  # a byte-order mark, as spreadsheets write it, is not content
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TenasError(f"{what} '{path}', line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 text; "
                         f"save the file as UTF-8.") from None


def file_and_column(spec):
    """``(path, column or None)`` when ``spec`` names an existing file, or a file and one of its columns after
    the last colon (``FILE:COLUMN``); ``(None, None)`` when it names no file."""
    if Path(spec).is_file():
        return Path(spec), None
    head, colon, column = spec.rpartition(":")
    if colon and head and Path(head).is_file():
        return Path(head), column
    return None, None


def csv_rows(text, path, what):
    """``(fields, [("line N", row dict)])`` of CSV text; a row the reader cannot split is refused by line, and
    so is a file whose last line is cut (``check_whole``)."""
    check_whole(text, path, what)
    reader = csv.DictReader(text.splitlines())
    rows = []
    try:
        fields = reader.fieldnames or []
        for row in reader:
            rows.append((f"line {reader.line_num}", row))
    except csv.Error as exc:
        raise TenasError(f"{what} '{path}', line {reader.line_num}: not CSV ({exc}).") from None
    return fields, rows


def check_whole(text, path, what):
    """Refuse a file whose last line is cut: one that does not end in a line break. Every CSV writer ends each
    row with one, so a file without it stopped mid-row, as a write cut short by a full disk or a killed writer
    leaves it, and its last cell may hold a cut number ("93.4" of "93.41") that reads as a good one. A cut that
    falls just after a line break leaves whole rows, which no reader can tell from a shorter file: tenas-kit
    writes its own files whole or not at all (``atomicfile``)."""
    if text and not text.endswith(("\n", "\r")):
        line = len(text.splitlines())
        raise TenasError(f"{what} '{path}', line {line}: the last line does not end in a line break, so the file "
                         f"may have been cut short while it was written; write it again, or if it is complete, "
                         f"end it with a newline.")


def number(cell, path, where, column, what, finite=True):
    """The number in a cell (``where``: "line 7", "row 3"); None for an empty cell. ``finite=False`` also takes
    nan and inf (a score may be either; an accuracy may not)."""
    text = (cell or "").strip() if isinstance(cell, str) or cell is None else cell
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)  # JSON results hold numbers already
    elif text == "":
        return None
    elif isinstance(text, str) and NUMBER.fullmatch(text):
        value = float(text)
    elif isinstance(text, str) and NON_FINITE.fullmatch(text):
        value = float(text)  # refused below where only finite numbers make sense
    else:
        shown = str(cell) if len(str(cell)) <= 40 else str(cell)[:37] + "..."
        hint = " (a spreadsheet formula? export the values, not the formulas)" if _formula(text) else ""
        raise TenasError(f"{what} '{path}', {where}: column '{column}' holds {shown!r}, not a number{hint}.")
    if finite and not math.isfinite(value):
        raise TenasError(f"{what} '{path}', {where}: column '{column}' holds {cell!r}, which is not a finite "
                         f"number.")
    return value


def _formula(text):
    return isinstance(text, str) and text.startswith(FORMULA) and not NUMBER.fullmatch(text)
