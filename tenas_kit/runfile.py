"""One HDF5 file per search run, written so that a kill at any moment loses at most a round.

The run is written to ``NAME.partial`` and renamed to ``NAME`` once complete,
so a file under its final name is always a finished run. Each round is a group
``rounds/NNN``; the root attribute ``rounds_done`` is written after the round's
data and flushed, and a resume drops any round group beyond it.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import h5py
import numpy as np

from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.cli.exits import one_line

FORMAT = "tenas-kit run"
# 2: each round records the ops it pruned by name (``rounds/NNN/pruned``). Version 1 files read as before.
FORMAT_VERSION = 2
TEXT = h5py.string_dtype()


def versions():
    import pluggy
    import torch

    from tenas_kit import __version__

    return {"tenas_kit": __version__, "torch": torch.__version__, "numpy": np.__version__, "h5py": h5py.__version__,
            "pluggy": pluggy.__version__, "python": platform.python_version()}


# h5py reports a failed write (full disk, file size limit) as OSError or, from a flush, RuntimeError.
WRITE_FAILURES = (OSError, RuntimeError)


def _abandon(handle):
    """Close a file whose last write failed; closing flushes and may fail the same way."""
    try:
        if handle is not None and handle.id.valid:
            handle.close()
    except WRITE_FAILURES:
        pass


def _unwritable(partial, exc):
    reason = getattr(exc, "strerror", None) or str(exc).split(" (")[0]
    return TenasRuntimeError(f"cannot write the run file '{partial}': {reason}; "
                             f"choose a writable --out with free space.")


def partial_path(path):
    return Path(str(path) + ".partial")


class RunFile:
    """A run being written. ``open`` creates it or reopens a matching partial run to resume."""

    def __init__(self, handle, path):
        self.h5, self.path = handle, Path(path)

    @classmethod
    def open(cls, path, config, settings, description):
        path = Path(path)
        partial = partial_path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable(partial, exc) from None
        if partial.exists():
            return cls._reopen(partial, path, config)
        handle = None
        try:
            handle = h5py.File(partial, "w")
            attrs = handle.attrs
            attrs["format"], attrs["format_version"] = FORMAT, FORMAT_VERSION
            attrs["config"] = json.dumps(config)
            attrs["settings"] = json.dumps(settings)
            attrs["versions"] = json.dumps(versions())
            attrs["data"] = description
            attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            attrs["rounds_done"] = 0
            attrs["complete"] = False
            attrs["interrupted"] = False
            handle.create_group("rounds")
            handle.flush()
        except WRITE_FAILURES as exc:
            _abandon(handle)
            raise _unwritable(partial, exc) from None
        return cls(handle, path)

    @classmethod
    def _reopen(cls, partial, path, config):
        try:
            handle = h5py.File(partial, "a")
        except OSError as exc:
            raise TenasRuntimeError(f"cannot reopen the interrupted run '{partial}' ({exc}); "
                                    f"delete it to start over.") from None
        try:
            stored = json.loads(handle.attrs.get("config", "null"))  # attributes are parsed, never evaluated
        except ValueError:
            stored = None
        if stored != config:
            handle.close()
            raise TenasError(
                f"'{partial}' holds an interrupted run with other settings; "
                f"rerun it with its own settings, pass another --out, or delete that file."
            )
        if handle.attrs.get("format_version") != FORMAT_VERSION:
            found = handle.attrs.get("format_version")
            handle.close()
            raise TenasError(f"'{partial}' is an interrupted run in format version {found!r}, this tenas-kit writes "
                             f"{FORMAT_VERSION}; finish it with the tenas-kit that started it, or delete it to start over.")
        run = cls(handle, path)
        run._drop_uncommitted()
        handle.attrs["interrupted"] = False  # a resumed run ends like one never stopped
        return run

    @property
    def rounds_done(self):
        return int(self.h5.attrs["rounds_done"])

    def last_mask(self):
        return self.h5[f"rounds/{self.rounds_done - 1:03d}/mask_after"][()]

    def _drop_uncommitted(self):
        for name in list(self.h5["rounds"]):
            if int(name) >= self.rounds_done:
                del self.h5["rounds"][name]

    def write_round(self, index, mask, candidates, measurements, decision, seconds):
        try:
            self._write_round(index, mask, candidates, measurements, decision, seconds)
        except WRITE_FAILURES as exc:
            _abandon(self.h5)
            raise _unwritable(partial_path(self.path), exc) from None

    def _write_round(self, index, mask, candidates, measurements, decision, seconds):
        group = self.h5["rounds"].create_group(f"{index:03d}")
        group.attrs["seconds"] = seconds
        group["mask_before"], group["mask_after"] = mask, decision.mask
        width = max(len(c.key) for c in candidates)
        group["keys"] = np.array([list(c.key) + [-1] * (width - len(c.key)) for c in candidates])
        group.create_dataset("labels", data=[c.label for c in candidates], dtype=TEXT)
        group.create_dataset("pruned", data=[candidates[i].label for i in decision.removed], dtype=TEXT)
        for m in measurements:
            sub = group.create_group(f"proxies/{m.proxy}")
            sub["base"], sub["values"] = m.base, m.values
            sub.attrs["weight"], sub.attrs["higher_is_better"] = m.weight, m.higher_is_better
        for name, column in decision.columns.items():
            group[f"columns/{name}"] = np.asarray(column)
        self.h5.attrs["rounds_done"] = index + 1
        self.h5.flush()

    def finish(self, mask, measurements, arch):
        try:
            self._finish(mask, measurements, arch)
        except WRITE_FAILURES as exc:
            _abandon(self.h5)
            raise _unwritable(partial_path(self.path), exc) from None

    def mark_interrupted(self):
        """Say in the file that it stopped on Ctrl-C (a kill leaves it unmarked but equally resumable)."""
        if self.h5.id.valid:
            self.h5.attrs["interrupted"] = True
            self.h5.flush()

    def _finish(self, mask, measurements, arch):
        if "final" in self.h5:  # a kill between close and rename left a finished partial
            del self.h5["final"]
        final = self.h5.create_group("final")
        final["mask"] = mask
        for m in measurements:
            final[f"proxies/{m.proxy}/base"] = m.base
        self.h5.attrs["architecture"] = arch
        self.h5.attrs["complete"] = True
        self.h5.close()
        os.replace(partial_path(self.path), self.path)

    def close(self):
        if self.h5.id.valid:
            self.h5.close()


def read(path):
    """A finished run file as plain Python data (for ``show`` and the API)."""
    path = Path(path)
    if not path.is_file():
        hint = " (an interrupted run: rerun its command with --resume to finish it)" if partial_path(path).is_file() else ""
        raise TenasError(f"no run file at '{path}'{hint}.")
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise TenasRuntimeError(f"'{path}' is not an HDF5 file; give a run file written by tenaskit run.") from None
    with handle:
        if handle.attrs.get("format") != FORMAT:
            raise TenasError(f"'{path}' is an HDF5 file but not a tenas-kit run file.")
        check_version(handle, path)
        try:
            return _read_run(handle)
        except (KeyError, OSError, ValueError, TypeError) as exc:
            raise TenasRuntimeError(f"run file '{path}' is damaged ({one_line(exc)}); run its command again with another --out.") from None


def check_version(handle, path):
    """A file from a newer tenas-kit may hold what this one would misread: refuse it rather than guess."""
    version = handle.attrs.get("format_version")
    version = int(version) if isinstance(version, (int, np.integer)) else version
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise TenasRuntimeError(f"run file '{path}' has format version {version!r}; this tenas-kit reads versions "
                                f"1 to {FORMAT_VERSION}: upgrade tenas-kit to read it.")


def _read_run(handle):
    out = {key: handle.attrs[key] for key in handle.attrs}
    for key in ("config", "settings", "versions"):
        out[key] = json.loads(out[key])  # JSON text: parsed, never evaluated
    out["rounds"] = [_read_round(handle["rounds"][name]) for name in sorted(handle["rounds"])]
    if "final" in handle:
        out["final"] = {name: handle[f"final/proxies/{name}/base"][()] for name in handle["final/proxies"]}
    return out


def _read_round(group):
    proxies = {}
    for name in group["proxies"]:
        sub = group["proxies"][name]
        proxies[name] = {"base": sub["base"][()], "values": sub["values"][()], "weight": float(sub.attrs["weight"])}
    return {
        "seconds": float(group.attrs["seconds"]),
        "labels": [s.decode() if isinstance(s, bytes) else s for s in group["labels"][()]],
        "proxies": proxies,
        "columns": {name: group["columns"][name][()] for name in group["columns"]},
        "mask_after": group["mask_after"][()],
        "pruned": [_text(s) for s in group["pruned"][()]] if "pruned" in group else None,  # None: version 1
    }


def _text(value):
    return value.decode() if isinstance(value, bytes) else value
