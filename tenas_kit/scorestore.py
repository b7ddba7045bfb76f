"""The score store: one HDF5 file of proxy scores, keyed by everything that changes a number.

Writers take an exclusive lock (``PATH.lock``), copy the store, append to the
copy and atomically rename it over the store. A reader opens whichever
complete version is in place, so a kill at any moment (even in the middle of
a write) leaves the previous or the next version, never a broken file, and
several processes can share one store.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import io
import os
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from tenas_kit.errors import TenasError, TenasRuntimeError

FORMAT = "tenas-kit scores"
KEY = "S40"  # sha1 hex digest


def score_key(**parts):
    """A stable hash of the parts (JSON with sorted keys)."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class ScoreStore:
    def __init__(self, path):
        self.path = Path(path)
        if self.path.is_dir():
            raise TenasError(f"--store '{self.path}' is a directory; give a file path such as scores.h5.")
        if self.path.exists():
            self._check(self.path)

    def _check(self, path):
        try:
            with h5py.File(path, "r") as h5:
                if h5.attrs.get("format") != FORMAT:
                    raise TenasError(f"'{path}' is an HDF5 file but not a tenas-kit score store; choose another --store.")
        except OSError:
            raise TenasRuntimeError(f"'{path}' is not an HDF5 file; choose another --store or delete it.") from None

    def read(self):
        """Every stored score as {key: value}."""
        if not self.path.exists():
            return {}
        with h5py.File(self.path, "r") as h5:
            keys = h5["keys"][()].astype(str)
            values = h5["values"][()]
        return dict(zip(keys, values.tolist()))

    def __len__(self):
        if not self.path.exists():
            return 0
        with h5py.File(self.path, "r") as h5:
            return len(h5["keys"])

    def add(self, items):
        """Append {key: value} items not yet stored; one atomic new version of the file."""
        if not items:
            return
        with self._locked():
            existing = set(self.read())
            fresh = [(k, v) for k, v in items.items() if k not in existing]
            if not fresh:
                return
            draft = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                # The new version is built in memory and written with plain file I/O: a full disk
                # then fails as one OSError, not inside HDF5, which cannot recover from it.
                content = _appended(self.path.read_bytes() if self.path.exists() else None, fresh)
                with open(draft, "wb") as handle:
                    handle.write(content)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(draft, self.path)
            except OSError as exc:
                raise TenasRuntimeError(f"cannot write the score store '{self.path}': {exc.strerror or exc}; "
                                        f"free some space or choose a writable --store.") from None
            finally:
                draft.unlink(missing_ok=True)

    @contextmanager
    def _locked(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(self.path.with_name(self.path.name + ".lock"), "a")
        except OSError as exc:
            raise TenasRuntimeError(f"cannot write the score store '{self.path}': {exc.strerror or exc}; choose a writable --store.") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _appended(content, items):
    """The bytes of a store (``content``, None for a new one) with ``items`` appended."""
    buffer = io.BytesIO(content or b"")
    keys = np.array([k for k, _ in items], dtype=KEY)
    values = np.array([v for _, v in items], dtype=np.float64)
    with h5py.File(buffer, "a" if content else "w") as h5:
        if "keys" not in h5:
            h5.attrs["format"] = FORMAT
            h5.create_dataset("keys", shape=(0,), maxshape=(None,), dtype=KEY, chunks=(4096,))
            h5.create_dataset("values", shape=(0,), maxshape=(None,), dtype=np.float64, chunks=(4096,))
        start = len(h5["keys"])
        for name, data in (("keys", keys), ("values", values)):
            h5[name].resize((start + len(data),))
            h5[name][start:] = data
    return buffer.getvalue()


def merge(target, sources):
    """Add every score of ``sources`` (stores from shards) to ``target``; returns how many were new."""
    store = ScoreStore(target)
    before = len(store)
    for source in sources:
        store.add(ScoreStore(source).read())
    return len(store) - before
