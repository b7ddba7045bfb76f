"""A training run's results file: its settings, a line per finished epoch, and the checkpoint to go on from.

Written as run files are (``tenas_kit.runfile``): ``NAME.partial`` while the
run goes on, renamed to ``NAME`` after the last epoch; committed whole after
every epoch (and when a stop signal arrives) through a temporary file that is
fsynced and renamed over it, so a kill at any moment leaves the last commit,
readable and resumable. The same checksums (``tenas_kit.sealedfile``): HDF5
file format 1.8 (checksummed metadata), every dataset chunked with fletcher32
and the sha256 of its contents in its header, the attributes that describe the
run (``SEALED``) under one sha256. The file is built afresh for every commit,
so a long run's file does not grow with the checkpoints it replaced.

Layout (format ``tenas-kit train``, version 1):

- attributes ``config`` (JSON: everything the result depends on, compared when
  a run resumes), ``settings`` (JSON: the recipe, its source and every field
  trained with; device, precision, classes), ``architecture``, ``data``,
  ``versions``, ``created``, ``epochs_done``, ``complete``, ``interrupted``;
- ``epochs/COLUMN``: one value per finished epoch (``COLUMNS``);
- ``checkpoint``: ``torch.save`` bytes (read back with ``weights_only``) of the
  network, the optimiser and the position in the epoch; in a finished file, the
  trained network alone.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import h5py
import numpy as np

from tenas_kit.atomicfile import write_atomically
from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.runfile import partial_path, versions
from tenas_kit.sealedfile import LIBVER, UNREADABLE, Damaged, damaged, digest, plain, put, read_dataset, seal, set_text

FORMAT = "tenas-kit train"
FORMAT_VERSION = 1
# The attributes ``sha256`` covers: what describes the run. The counters change as it runs, ``created`` between
# identical runs; HDF5's object-header checksums cover those.
SEALED = ("format", "format_version", "config", "settings", "versions", "data", "architecture")
COLUMNS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "drop_path", "seconds",
           "images_per_second", "data_share")
TIMINGS = frozenset({"created", "seconds", "images_per_second", "data_share"})  # differ between identical runs


class TrainFile:
    """A training run being written: ``open`` starts one, or reopens ``NAME.partial`` to resume it."""

    def __init__(self, path, attrs, history, checkpoint):
        self.path, self.attrs, self.history, self.checkpoint = Path(path), attrs, history, checkpoint

    @classmethod
    def open(cls, path, config, settings, description, architecture):
        path = Path(path)
        partial = partial_path(path)
        if partial.exists():
            return cls._reopen(path, partial, config)
        attrs = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": json.dumps(config),
                 "settings": json.dumps(settings), "versions": json.dumps(versions()), "data": description,
                 "architecture": architecture, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        run = cls(path, attrs, {column: [] for column in COLUMNS}, None)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise run._unwritable(exc) from None
        run._commit()
        return run

    @classmethod
    def _reopen(cls, path, partial, config):
        held = check_partial(partial, config, checkpoint=True)
        attrs = {name: held[name] for name in ("format", "format_version", "data", "architecture", "created")}
        attrs.update(config=json.dumps(held["config"]), settings=json.dumps(held["settings"]),
                     versions=json.dumps(held["versions"]))
        history = {column: list(held["epochs"][column]) for column in COLUMNS}
        return cls(path, attrs, history, held["checkpoint"])

    @property
    def epochs_done(self):
        return len(self.history["train_loss"])

    def commit(self, record, checkpoint):
        """A finished epoch's line and the checkpoint after it."""
        for column in COLUMNS:
            self.history[column].append(float(record[column]))
        self.checkpoint = checkpoint
        self._commit(kept=self.epochs_done - 1)

    def save(self, checkpoint):
        """A checkpoint inside an epoch (a stop signal arrived), the file marked interrupted."""
        self.checkpoint = checkpoint
        self._commit(kept=self.epochs_done, interrupted=True)

    def finish(self, weights):
        """The trained network in place of the checkpoint; the file renamed to its final name."""
        self.checkpoint = weights
        self._commit(kept=self.epochs_done, complete=True)
        try:
            os.replace(partial_path(self.path), self.path)
        except OSError as exc:
            raise self._unwritable(exc) from None

    def _commit(self, kept=0, interrupted=False, complete=False):
        image = io.BytesIO()
        with h5py.File(image, "w", libver=LIBVER) as h5:
            set_text(h5.attrs, **{k: v for k, v in self.attrs.items() if k != "format_version"})
            h5.attrs["format_version"] = FORMAT_VERSION
            h5.attrs["epochs_done"] = self.epochs_done
            h5.attrs["complete"], h5.attrs["interrupted"] = complete, interrupted
            seal(h5.attrs, SEALED)
            epochs = h5.create_group("epochs")
            for column in COLUMNS:
                put(epochs, column, np.array(self.history[column], dtype=np.float64))
            if self.checkpoint is not None:
                put(h5, "checkpoint", np.frombuffer(self.checkpoint, dtype=np.uint8))
        try:
            write_atomically(partial_path(self.path), image.getvalue())
        except OSError as exc:
            raise self._unwritable(exc, kept) from None

    def _unwritable(self, exc, kept=0):
        way_out = "choose a writable --out with free space"
        if kept:
            way_out = (f"its {kept} finished epoch{'s' * (kept != 1)} {'are' if kept != 1 else 'is'} kept there: "
                       f"free some space and rerun the same command to resume")
        return TenasRuntimeError(f"cannot write the training file '{partial_path(self.path)}': "
                                 f"{exc.strerror or exc}; {way_out}.")


def check_partial(partial, config, checkpoint=False):
    """What the interrupted training at ``partial`` holds, if it has ``config``; refused otherwise, never mixed."""
    held = read(partial, checkpoint=checkpoint, way_out="delete it to start over")
    if held["config"] != config:
        differ = ", ".join(changed(held["config"], config)) or "the settings"
        raise TenasError(f"'{partial}' holds an interrupted training with other settings ({differ} differ); "
                         f"rerun it with its own settings, pass another --out, or delete that file.")
    return held


def changed(held, given, prefix=""):
    """The settings (``fields.epochs``) whose values differ between two configs."""
    names = []
    for key in sorted(set(held) | set(given)):
        a, b = held.get(key), given.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            names += changed(a, b, f"{prefix}{key}.")
        elif a != b:
            names.append(prefix + key)
    return names


def is_train_file(path):
    """Whether ``path`` is an HDF5 file that says it is a training file (anything else: False)."""
    try:
        with h5py.File(path, "r") as handle:
            return plain(handle.attrs.get("format")) == FORMAT
    except UNREADABLE:
        return False


def read(path, checkpoint=False, way_out="train again with another --out"):
    """A training file as plain Python data, every value read verified; ``checkpoint``: its bytes as well."""
    path = Path(path)
    if not path.is_file():
        hint = " (an interrupted training: rerun its command to finish it)" if partial_path(path).is_file() else ""
        raise TenasError(f"no training file at '{path}'{hint}.")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise damaged("training file", path, f"not an HDF5 file that opens: {exc}", way_out) from None
    with handle:
        try:
            return _read(handle, path, checkpoint)
        except UNREADABLE as exc:
            raise damaged("training file", path, exc, way_out) from None


def _read(handle, path, checkpoint):
    out = {key: plain(value) for key, value in handle.attrs.items()}
    if out.get("format") != FORMAT:
        raise TenasError(f"'{path}' is not a tenas-kit training file; give a file written by tenaskit train.")
    if out.get("format_version") != FORMAT_VERSION:
        raise TenasRuntimeError(f"training file '{path}' has format version {out.get('format_version')!r}; this "
                                f"tenas-kit reads version {FORMAT_VERSION}: use the tenas-kit that wrote it.")
    if out.get("sha256") != digest(out, SEALED):
        raise Damaged("its attributes fail their sha256 checksum")
    for key in ("config", "settings", "versions"):
        out[key] = json.loads(out[key])  # JSON text: parsed, never evaluated
        if not isinstance(out[key], dict):
            raise Damaged(f"attribute '{key}' is not a JSON object")
    size = os.path.getsize(path)
    out["epochs"] = {column: read_dataset(handle["epochs"], column, "f", size, ndim=1) for column in COLUMNS}
    if any(len(values) != int(out["epochs_done"]) for values in out["epochs"].values()):
        raise Damaged(f"it declares {int(out['epochs_done'])} epochs done but holds other counts")
    if checkpoint:
        held = "checkpoint" in handle
        out["checkpoint"] = read_dataset(handle, "checkpoint", "u", size).tobytes() if held else None
    return out
