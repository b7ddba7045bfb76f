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

from .errors import TenasError

FORMAT = "tenas-kit run"
FORMAT_VERSION = 1
TEXT = h5py.string_dtype()


def versions():
    import pluggy
    import torch

    from . import __version__

    return {"tenas_kit": __version__, "torch": torch.__version__, "numpy": np.__version__, "h5py": h5py.__version__,
            "pluggy": pluggy.__version__, "python": platform.python_version()}


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
            if partial.exists():
                handle = h5py.File(partial, "a")
                if json.loads(handle.attrs.get("config", "null")) != config:
                    handle.close()
                    raise TenasError(
                        f"'{partial}' holds an interrupted run with other settings; "
                        f"rerun it with its own settings, pass another --out, or delete that file."
                    )
                run = cls(handle, path)
                run._drop_uncommitted()
                return run
            handle = h5py.File(partial, "w")
        except OSError as exc:
            raise TenasError(f"cannot write the run file '{partial}': {exc.strerror or exc}; choose a writable --out.") from None
        attrs = handle.attrs
        attrs["format"], attrs["format_version"] = FORMAT, FORMAT_VERSION
        attrs["config"] = json.dumps(config)
        attrs["settings"] = json.dumps(settings)
        attrs["versions"] = json.dumps(versions())
        attrs["data"] = description
        attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        attrs["rounds_done"] = 0
        attrs["complete"] = False
        handle.create_group("rounds")
        handle.flush()
        return cls(handle, path)

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
        group = self.h5["rounds"].create_group(f"{index:03d}")
        group.attrs["seconds"] = seconds
        group["mask_before"], group["mask_after"] = mask, decision.mask
        width = max(len(c.key) for c in candidates)
        group["keys"] = np.array([list(c.key) + [-1] * (width - len(c.key)) for c in candidates])
        group.create_dataset("labels", data=[c.label for c in candidates], dtype=TEXT)
        for m in measurements:
            sub = group.create_group(f"proxies/{m.proxy}")
            sub["base"], sub["values"] = m.base, m.values
            sub.attrs["weight"], sub.attrs["higher_is_better"] = m.weight, m.higher_is_better
        for name, column in decision.columns.items():
            group[f"columns/{name}"] = np.asarray(column)
        self.h5.attrs["rounds_done"] = index + 1
        self.h5.flush()

    def finish(self, mask, measurements, arch):
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
        hint = " (an interrupted run: rerun its command to resume it)" if partial_path(path).is_file() else ""
        raise TenasError(f"no run file at '{path}'{hint}.")
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise TenasError(f"'{path}' is not an HDF5 file; give a run file written by tenaskit run.") from None
    with handle:
        if handle.attrs.get("format") != FORMAT:
            raise TenasError(f"'{path}' is an HDF5 file but not a tenas-kit run file.")
        out = {key: handle.attrs[key] for key in handle.attrs}
        for key in ("config", "settings", "versions"):
            out[key] = json.loads(out[key])
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
    }
