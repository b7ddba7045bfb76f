"""One HDF5 file per search run, written so that a kill at any moment loses at most a round.

The run is written to ``NAME.partial`` and renamed to ``NAME`` once complete,
so a file under its final name is always a finished run. Each round is a group
``rounds/NNN`` and the root attribute ``rounds_done`` counts them. The file is
kept in memory while the run goes on and committed whole after each round:
written beside the ``.partial``, fsynced and renamed over it (``atomicfile``),
so a failed write (a full disk, a file size limit) or a kill leaves the
previous round's file, readable and resumable. HDF5 itself never writes to
disk, so it never meets a failed write, which it cannot recover from.

A search that spends queries (``run --queries``) records their settings in the
root attribute ``queries`` (JSON), the pruning's cell in ``searched``, and each
answer as it comes in ``queries/arch``, ``queries/answer`` and
``queries/seconds`` (in the order asked), committed like a round, with the root
attribute ``queries_done`` counting them: a resumed run never asks again. The
file gets its final name once the last query is answered. A run without
queries holds none of these.

Every value is checksummed (format 3) as ``sealedfile`` writes it: HDF5's
checksummed metadata, fletcher32 and a sha256 on every dataset, text as
fixed-length UTF-8, and the root attribute ``sha256`` over the JSON and text
attributes (``SEALED``). ``read`` validates format, version, dtypes and shapes
before it reads a value and refuses a file whose checksums fail; files of
versions 1 and 2 have none and are read with a warning.
"""

from __future__ import annotations

import io
import json
import os
import platform
import time
from pathlib import Path

import h5py
import numpy as np

from tenas_kit.atomicfile import write_atomically
from tenas_kit.errors import TenasError, TenasRuntimeError, one_line
from tenas_kit.scorestore import warn
from tenas_kit.sealedfile import (LIBVER, UNREADABLE, Damaged, damaged, digest, plain, put, read_dataset, seal,
                                  set_text, utf8)

FORMAT = "tenas-kit run"
# 2: each round records the ops it pruned by name (``rounds/NNN/pruned``). Version 1 files read as before.
# 3: checksums (see above); labels and text attributes fixed-length UTF-8. Versions 1 and 2 read with a warning.
FORMAT_VERSION = 3
CHECKSUMMED = 3  # the first version whose values carry checksums
# The attributes ``sha256`` covers: what describes the run. The counters (rounds_done, complete,
# interrupted) change as it runs and ``created`` differs between identical runs; HDF5's own
# object-header checksums cover those.
SEALED = ("format", "format_version", "config", "settings", "versions", "data", "architecture", "queries", "searched")


def versions():
    import pluggy
    import torch

    from tenas_kit import __version__

    return {"tenas_kit": __version__, "torch": torch.__version__, "numpy": np.__version__, "h5py": h5py.__version__,
            "pluggy": pluggy.__version__, "python": platform.python_version()}


def _unwritable(partial, exc, kept=None):
    way_out = "choose a writable --out with free space"
    if kept:  # what the failed commit leaves is the previous one, which resumes
        way_out = (f"its {kept} finished round{'s' * (kept != 1)} {'are' if kept != 1 else 'is'} kept there: "
                   f"free some space and rerun the same command to resume")
    return TenasRuntimeError(f"cannot write the run file '{partial}': {exc.strerror or exc}; {way_out}.")


def partial_path(path):
    return Path(str(path) + ".partial")


class RunFile:
    """A run being written. ``open`` creates it or reopens a matching partial run to resume."""

    def __init__(self, handle, image, path):
        self.h5, self.image, self.path = handle, image, Path(path)

    @property
    def spends_queries(self):
        return "queries" in self.h5.attrs

    @classmethod
    def open(cls, path, config, settings, description, queries=None):
        """``queries``: the settings of the queries the run spends after pruning (None: it spends none)."""
        path = Path(path)
        partial = partial_path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable(partial, exc) from None
        if partial.exists():
            return cls._reopen(partial, path, config, queries)
        image = io.BytesIO()
        handle = h5py.File(image, "w", libver=LIBVER)
        attrs = handle.attrs
        set_text(attrs, format=FORMAT, config=json.dumps(config), settings=json.dumps(settings),
                 versions=json.dumps(versions()), data=description, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        attrs["format_version"] = FORMAT_VERSION
        attrs["rounds_done"] = 0
        attrs["complete"] = False
        attrs["interrupted"] = False
        if queries is not None:
            set_text(attrs, queries=json.dumps(queries))
            attrs["queries_done"] = 0
        seal(attrs, SEALED)
        handle.create_group("rounds")
        run = cls(handle, image, path)
        try:
            run._commit()
        except TenasError:
            run.close()
            raise
        return run

    @classmethod
    def _reopen(cls, partial, path, config, queries=None):
        try:
            image = io.BytesIO(partial.read_bytes())
            handle = h5py.File(image, "a", libver=LIBVER)
        except OSError as exc:
            raise TenasRuntimeError(f"cannot reopen the interrupted run '{partial}' ({one_line(exc)}); "
                                    f"delete it to start over.") from None
        try:
            if handle.attrs.get("format_version") == FORMAT_VERSION:
                # What the resumed run keeps must read back, or the finished file would not.
                _verify(handle, partial, int(handle.attrs["rounds_done"]), "delete it to start over")
            try:
                stored = json.loads(handle.attrs.get("config", "null"))  # attributes are parsed, never evaluated
                asked = json.loads(plain(handle.attrs.get("queries", b"null")))
            except ValueError:
                stored = asked = None
        except TenasError:
            handle.close()
            raise
        except UNREADABLE as exc:
            handle.close()
            raise _damaged(partial, exc, "delete it to start over") from None
        if stored != config or asked != queries:
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
        run = cls(handle, image, path)
        run._drop_uncommitted()
        handle.attrs["interrupted"] = False  # a resumed run ends like one never stopped (committed with its next round)
        return run

    @property
    def rounds_done(self):
        return int(self.h5.attrs["rounds_done"])

    def last_mask(self):
        return self.h5[f"rounds/{self.rounds_done - 1:03d}/mask_after"][()]  # verified when the run was reopened

    def _drop_uncommitted(self):
        # Only a .partial written before rounds were committed whole can hold a round beyond rounds_done.
        for name in list(self.h5["rounds"]):
            if int(name) >= self.rounds_done:
                del self.h5["rounds"][name]

    def _commit(self, kept=0):
        """The file as it is now, under ``NAME.partial``, whole; on a failed write the previous one (``kept``
        rounds) stays."""
        self.h5.flush()
        try:
            write_atomically(partial_path(self.path), self.image.getvalue())
        except OSError as exc:
            raise _unwritable(partial_path(self.path), exc, kept) from None

    def write_round(self, index, mask, candidates, measurements, decision, seconds):
        group = self.h5["rounds"].create_group(f"{index:03d}")
        group.attrs["seconds"] = seconds
        put(group, "mask_before", mask)
        put(group, "mask_after", decision.mask)
        width = max(len(c.key) for c in candidates)
        put(group, "keys", np.array([list(c.key) + [-1] * (width - len(c.key)) for c in candidates]))
        put(group, "labels", utf8([c.label for c in candidates]))
        put(group, "pruned", utf8(decision.pruned_labels(candidates)))
        for m in measurements:
            sub = group.create_group(f"proxies/{m.proxy}")
            put(sub, "base", m.base)
            put(sub, "values", m.values)
            sub.attrs["weight"], sub.attrs["higher_is_better"] = m.weight, m.higher_is_better
        for name, column in decision.columns.items():
            put(group, f"columns/{name}", column)
        self.h5.attrs["rounds_done"] = index + 1
        self._commit(kept=index)

    def mark_interrupted(self):
        """Say in the file that it stopped on Ctrl-C (a kill leaves it unmarked but equally resumable)."""
        if self.h5.id.valid:
            self.h5.attrs["interrupted"] = True
            try:
                self._commit()
            except TenasError:
                pass  # the file holds the last committed round, unmarked: resumable all the same

    def finish(self, mask, measurements, arch):
        """The pruning's result: the run is finished, or, when it spends queries, goes on to them."""
        if "final" in self.h5:  # a kill between committing and renaming left a finished partial
            del self.h5["final"]
        final = self.h5.create_group("final")
        put(final, "mask", mask)
        for m in measurements:
            put(final, f"proxies/{m.proxy}/base", m.base)
        if self.spends_queries:
            set_text(self.h5.attrs, searched=arch)
            seal(self.h5.attrs, SEALED)
            self._commit(kept=self.rounds_done)
            return
        self.conclude(arch)

    def answers(self):
        """``[(cell text, answer, seconds)]`` of the queries answered so far, in the order asked."""
        if "queries" not in self.h5:
            return []
        group = self.h5["queries"]
        return [(plain(a), float(v), float(t)) for a, v, t in zip(group["arch"][()], group["answer"][()],
                                                                  group["seconds"][()])]

    def write_answer(self, arch, value, seconds):
        """Record one answer, committed at once: an oracle may have trained for hours to give it."""
        answered = self.answers() + [(arch, value, seconds)]
        if "queries" in self.h5:
            del self.h5["queries"]
        group = self.h5.create_group("queries")
        put(group, "arch", utf8([a for a, _, _ in answered]))
        put(group, "answer", np.array([v for _, v, _ in answered], dtype=float))
        put(group, "seconds", np.array([t for _, _, t in answered], dtype=float))
        self.h5.attrs["queries_done"] = len(answered)
        self._commit(kept=self.rounds_done)

    def conclude(self, arch):
        """The run's result ``arch``: the file is complete and takes its final name."""
        set_text(self.h5.attrs, architecture=arch)
        self.h5.attrs["complete"] = True
        seal(self.h5.attrs, SEALED)
        self._commit(kept=self.rounds_done)
        self.close()
        try:
            os.replace(partial_path(self.path), self.path)
        except OSError as exc:
            raise _unwritable(self.path, exc) from None

    def close(self):
        if self.h5.id.valid:
            self.h5.close()


def read(path):
    """A finished run file as plain Python data (for ``show`` and the API), every value verified."""
    path = Path(path)
    if not path.is_file():
        hint = " (an interrupted run: rerun its command with --resume to finish it)" if partial_path(path).is_file() else ""
        raise TenasError(f"no run file at '{path}'{hint}.")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        with open(path, "rb") as raw:
            if raw.read(8) == b"\x89HDF\r\n\x1a\n":  # an HDF5 file, truncated or damaged
                raise _damaged(path, f"not an HDF5 file that opens: {exc}", "run its command again with another --out") from None
        raise TenasRuntimeError(f"'{path}' is not an HDF5 file; give a run file written by tenaskit run.") from None
    with handle:
        try:
            kind = plain(dict(handle.attrs).get("format"))  # all of them: a damaged index must not read as absent
        except UNREADABLE as exc:
            raise _damaged(path, exc, "run its command again with another --out") from None
        if kind != FORMAT:
            raise TenasError(f"'{path}' is an HDF5 file but not a tenas-kit run file.")
        version = check_version(handle, path)
        run = _verify(handle, path)
    if version < FORMAT_VERSION:
        warn(f"run file '{path}' is format version {version}, written before run files carried checksums: "
             f"its values are shown unverified.")
    return run


def check_version(handle, path):
    """A file from a newer tenas-kit may hold what this one would misread: refuse it rather than guess."""
    try:
        version = handle.attrs.get("format_version")
    except UNREADABLE as exc:
        raise _damaged(path, exc, "run its command again with another --out") from None
    version = int(version) if isinstance(version, (int, np.integer)) and not isinstance(version, (bool, np.bool_)) else version
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise TenasRuntimeError(f"run file '{path}' has format version {version!r}; this tenas-kit reads versions "
                                f"1 to {FORMAT_VERSION}: upgrade tenas-kit to read it.")
    return version


def _damaged(path, exc, way_out):
    return damaged("run file", path, exc, way_out)


def _verify(handle, path, rounds=None, way_out="run its command again with another --out"):
    """The whole run (or its first ``rounds`` rounds, for a resume) read and checked, or one error line."""
    version = check_version(handle, path)
    try:
        return _read_run(handle, version, os.path.getsize(path), rounds)
    except UNREADABLE as exc:
        raise _damaged(path, exc, way_out) from None


def _read_run(handle, version, size, rounds=None):
    attrs = handle.attrs
    out = {key: plain(attrs[key]) for key in attrs}
    if version >= CHECKSUMMED and out.get("sha256") != digest(out, SEALED):
        raise Damaged("its attributes fail their sha256 checksum")
    for key in ("config", "settings", "versions"):
        if not isinstance(out.get(key), str):
            raise Damaged(f"attribute '{key}' is missing or not text")
        out[key] = json.loads(out[key])  # JSON text: parsed, never evaluated
        if not isinstance(out[key], dict):
            raise Damaged(f"attribute '{key}' is not a JSON object")
    group = handle.get("rounds")
    if not isinstance(group, h5py.Group):
        raise Damaged("no 'rounds' group")
    names = sorted(group)
    if rounds is not None:
        names = [name for name in names if name.isdigit() and int(name) < rounds]
        if len(names) != rounds:
            raise Damaged(f"{rounds} rounds done but {len(names)} recorded")
    if any(not name.isdigit() for name in names) or [int(n) for n in names] != list(range(len(names))):
        raise Damaged(f"rounds named {names[:5]}, not 000, 001, ...")
    if rounds is None:
        _check_declared(out, names, handle, version)
    out["rounds"] = [_read_round(group[name], version, size) for name in names]
    if rounds is None and "final" in handle:
        final = handle["final/proxies"]
        out["final"] = {name: _array(final[name], "base", "fiu", version, size, ndim=1) for name in final}
    if "queries" in out:
        out["queries"] = json.loads(out["queries"])
        out["answers"] = _read_answers(handle, version, size, out.get("queries_done", 0))
    if rounds is None:
        _read_everything(handle, version, size)
    return out


def _check_declared(attrs, names, handle, version):
    """A finished file holds what it declares: the counters are not under the sha256 (they change as the run
    goes on), so a round or the final result removed with the counter left standing must be caught here."""
    done = attrs.get("rounds_done")
    if done is not None and int(done) != len(names):
        raise Damaged(f"it declares {int(done)} rounds done but holds {len(names)}")
    if version >= 3 and attrs.get("complete"):
        for what, present in (("'final' group", "final" in handle), ("architecture", "architecture" in attrs)):
            if not present:
                raise Damaged(f"it is marked complete but holds no {what}")


def _read_answers(handle, version, size, done):
    """``[{"arch", "answer", "seconds"}]`` of a run that spends queries, in the order asked."""
    if "queries" not in handle:
        if done:
            raise Damaged(f"it declares {int(done)} queries answered but holds none")
        return []
    group = handle["queries"]
    archs = [plain(a) for a in _array(group, "arch", "text", version, size, ndim=1)]
    values = [_array(group, name, "f", version, size, ndim=1) for name in ("answer", "seconds")]
    if not len(archs) == len(values[0]) == len(values[1]) == int(done):
        raise Damaged(f"it declares {int(done)} queries answered but holds {len(archs)}")
    return [{"arch": a, "answer": float(v), "seconds": float(t)} for a, v, t in zip(archs, *values)]


def _read_everything(handle, version, size):
    """Open every object and read every dataset and attribute, the ones ``read`` does not return too
    (a run's keys and masks): a checksum is verified only when its bytes are read."""
    def visit(name, obj):
        dict(obj.attrs)
        if isinstance(obj, h5py.Dataset):
            text = obj.dtype.kind == "S" or h5py.check_string_dtype(obj.dtype) is not None
            _array(obj.parent, name.rsplit("/", 1)[-1], "text" if text else "fiub", version, size)

    dict(handle.attrs)
    handle.visititems(visit)


def _read_round(group, version, size):
    labels = [plain(s) for s in _array(group, "labels", "text", version, size, ndim=1)]
    count = len(labels)
    proxies = {}
    for name in group["proxies"]:
        sub = group["proxies"][name]
        base = _array(sub, "base", "fiu", version, size, ndim=1)
        values = _array(sub, "values", "fiu", version, size, ndim=2)
        if values.shape != (len(base), count):
            raise Damaged(f"'{sub.name}/values' has shape {values.shape}, not ({len(base)}, {count})")
        proxies[name] = {"base": base, "values": values, "weight": float(sub.attrs["weight"])}
    columns = {name: _array(group["columns"], name, "fiub", version, size, ndim=1) for name in group["columns"]}
    for name, column in columns.items():
        if len(column) != count:
            raise Damaged(f"column '{name}' of '{group.name}' has {len(column)} entries for {count} candidates")
    pruned = None  # version 1 did not record them
    if "pruned" in group or version >= 2:
        pruned = [plain(s) for s in _array(group, "pruned", "text", version, size, ndim=1)]
    return {
        "seconds": float(group.attrs["seconds"]),
        "labels": labels,
        "proxies": proxies,
        "columns": columns,
        "mask_after": _array(group, "mask_after", "b", version, size),
        "pruned": pruned,
    }


def _array(group, name, kinds, version, size, ndim=None):
    """A dataset read as the file's version wrote it: versions before 3, unchecksummed, variable-length text."""
    return read_dataset(group, name, kinds, size, ndim, checksummed=version >= CHECKSUMMED)
