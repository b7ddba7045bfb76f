"""The score store: proxy scores keyed by everything that changes a number, in checksummed HDF5 files.

A store named ``PATH`` is the root file ``PATH`` (the store's identity and the
scores folded into it) and the directory ``PATH.segments``, which holds one
small file per commit. A commit writes its segment under a temporary name,
fsyncs it and renames it into place, so it costs what it adds; a kill at any
moment leaves the store as it was before or after that commit. When eight
segments of one level gather, they are merged into one of the next level
(written and renamed the same way, then the merged files are removed), which
keeps the number of files logarithmic in the number of commits and copies each
score a logarithmic number of times. Writers take an exclusive lock
(``PATH.lock``); readers take none: they hold every file of one listing open
before reading, and list again if a merge removed one in between.

Every file is written with HDF5's checksummed metadata (file format 1.10),
fletcher32 on its datasets and the sha256 of each chunk of scores beside them,
and validated before anything is allocated from what it declares. A chunk whose checksum fails is reported in one line and
its scores are left out, so they are recomputed, never served; the next commit
rewrites the file without it. Stores of format 1 (one file, no checksums) are
upgraded in place when opened for writing and read with a warning otherwise.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import sys
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from tenas_kit.atomicfile import HOST, alive, fsync_dir, write_atomically
from tenas_kit.errors import TenasError, TenasRuntimeError

FORMAT = "tenas-kit scores"
SEGMENT_FORMAT = "tenas-kit scores segment"
# 1: one file, rewritten whole by every commit, no checksums (read; upgraded when opened for writing).
# 2: a root file and segments, fletcher32 on every dataset, checksummed metadata.
FORMAT_VERSION = 2
KEY = np.dtype("S40")  # sha1 hex digest
VALUE = np.dtype("<f8")
RECORD_BYTES = KEY.itemsize + VALUE.itemsize
CHUNK = 4096  # records per chunk: the unit a checksum covers and a damaged read loses
DIGEST = 32  # bytes of a chunk's sha256
FANOUT = 8  # segments of one level merged into one of the next
BASE = 1024  # records a level-0 segment holds at most; each level up holds FANOUT times more
LIBVER = ("v110", "v110")  # object headers, B-trees and heaps carry checksums from this format on
SEGMENT = re.compile(r"^L(\d{2})-(\d{12})-(\d{12})\.h5$")
SEGMENT_TEMP = re.compile(r"^\.L\d{2}-\d{12}-\d{12}\.h5\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.tmp$")
# What h5py raises on a file whose bytes do not hold what they declare (a failed checksum, a broken index).
UNREADABLE = (OSError, KeyError, ValueError, RuntimeError, TypeError, IndexError)


def score_key(**parts):
    """A stable hash of the parts (JSON with sorted keys)."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class Damaged(Exception):
    """A file of the store does not hold what a store file must; the message says what."""


@dataclass
class _File:
    """One validated file of the store, open for reading."""
    label: str
    store_id: str
    keys: h5py.Dataset
    values: h5py.Dataset
    step: int  # records read at once: one chunk, so that a failed checksum costs one chunk
    version: int = FORMAT_VERSION
    folded: int = 0  # root: segments up to this sequence number were folded into it
    level: int = 0
    lo: int = 0
    hi: int = 0
    members: tuple = ()  # segment: the segments merged into it
    digests: h5py.Dataset = None  # format 2: the sha256 of each chunk's keys and values

    def __len__(self):
        return self.keys.shape[0]


@dataclass
class _Damage:
    """What one read could not use, reported in one line."""
    files: list = field(default_factory=list)  # (label, reason): whole files left out
    chunks: dict = field(default_factory=dict)  # label -> [chunks, scores] that failed their checksums

    def chunk(self, label, count):
        entry = self.chunks.setdefault(label, [0, 0])
        entry[0] += 1
        entry[1] += count

    def line(self, path):
        if not self.files and not self.chunks:
            return None
        parts = []
        if self.chunks:
            chunks = sum(c for c, _ in self.chunks.values())
            scores = sum(s for _, s in self.chunks.values())
            parts.append(f"checksum failed for {chunks} chunk{'s' * (chunks != 1)} ({scores} scores) "
                         f"in {', '.join(sorted(self.chunks))}")
        for label, reason in self.files:
            parts.append(f"{label} is unreadable ({reason})")
        return f"score store '{path}': {'; '.join(parts)}; those scores are not used and will be recomputed."


def warn(line):
    """One line on stderr: the CLI's warnings, and an API user's too (the store is a cache, not an error)."""
    print(f"warning: {' '.join(line.split())}", file=sys.stderr, flush=True)


def _text(value):
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _int(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def _dtype(dtype):
    if h5py.check_vlen_dtype(dtype) is not None or h5py.check_string_dtype(dtype) is not None and dtype.kind == "O":
        return "variable-length"
    if h5py.check_ref_dtype(dtype) is not None:
        return "reference"
    return str(dtype)


def _datasets(h5, size, checksummed):
    """``(keys, values, step)`` once their dtypes, shapes, filters and stored bytes are what a store holds.

    Checked before anything is read: a dataset may declare any shape, and reading it would allocate
    that much. A store's datasets hold their data uncompressed, so a file of ``size`` bytes holds at
    most ``size // 48`` scores, and each dataset must have stored as many bytes as it declares.
    """
    keys, values = h5.get("keys"), h5.get("values")
    if not isinstance(keys, h5py.Dataset) or not isinstance(values, h5py.Dataset):
        raise Damaged("no 'keys' and 'values' datasets")
    if keys.dtype != KEY:
        raise Damaged(f"keys of type {_dtype(keys.dtype)}, not 40-byte strings")
    if values.dtype.kind != "f" or values.dtype.itemsize != 8:
        raise Damaged(f"values of type {_dtype(values.dtype)}, not float64")
    if keys.ndim != 1 or values.ndim != 1:
        raise Damaged(f"keys of shape {keys.shape} and values of shape {values.shape}, not one dimension each")
    if keys.shape != values.shape:
        raise Damaged(f"{keys.shape[0]} keys but {values.shape[0]} values")
    count = keys.shape[0]
    if count * RECORD_BYTES > size:
        raise Damaged(f"declares {count} scores, more than its {size} bytes can hold")
    for ds in (keys, values):
        if ds.compression or ds.shuffle or ds.scaleoffset is not None:
            raise Damaged(f"'{ds.name}' is filtered ({ds.compression or 'shuffle/scale-offset'}); a store is not")
        stored = ds.id.get_storage_size()
        if stored < ds.size * ds.dtype.itemsize:
            raise Damaged(f"'{ds.name[1:]}' declares {ds.size} entries but stores {stored} bytes")
    if checksummed:
        if not (keys.fletcher32 and values.fletcher32) or keys.chunks is None or keys.chunks != values.chunks:
            raise Damaged("datasets without fletcher32 checksums on matching chunks")
        step = max(1, keys.chunks[0])
        digests = h5.get("digests")
        if (not isinstance(digests, h5py.Dataset) or digests.dtype != np.uint8 or not digests.fletcher32
                or digests.shape != (-(-count // step), DIGEST)
                or digests.id.get_storage_size() < digests.size):
            raise Damaged("no sha256 for each of its chunks")
        return keys, values, step, digests
    same = keys.chunks is not None and keys.chunks == values.chunks
    return keys, values, max(1, keys.chunks[0] if same else count), None


def _inspect_root(h5, label, size):
    if _text(h5.attrs.get("format")) != FORMAT:
        raise TenasError(f"'{label}' is an HDF5 file but not a tenas-kit score store; choose another --store.")
    found = h5.attrs.get("format_version", 1)
    version = _int(found)
    if version not in (1, FORMAT_VERSION):
        shown = version if version is not None else repr(found)
        raise TenasRuntimeError(f"score store '{label}' has format version {shown}; this tenas-kit reads versions "
                                f"1 and {FORMAT_VERSION}: upgrade tenas-kit to use it.")
    keys, values, step, digests = _datasets(h5, size, checksummed=version >= 2)
    if version == 1:
        return _File(label, "", keys, values, step, version=1)
    store_id, folded = _text(h5.attrs.get("store_id")), _int(h5.attrs.get("folded_through"))
    if not store_id or folded is None or folded < 0:
        raise Damaged("no store id")
    return _File(label, store_id, keys, values, step, folded=folded, digests=digests)


def _inspect_segment(h5, name, size):
    match = SEGMENT.match(name)
    attrs = h5.attrs
    if _text(attrs.get("format")) != SEGMENT_FORMAT or _int(attrs.get("format_version")) != FORMAT_VERSION:
        raise Damaged("not a segment of this format")
    level, lo, hi = (_int(attrs.get(key)) for key in ("level", "lo", "hi"))
    if match is None or (level, lo, hi) != tuple(int(g) for g in match.groups()):
        raise Damaged("its name does not match its level and sequence numbers")
    members = attrs.get("members")
    if not isinstance(members, np.ndarray) or members.dtype.kind != "S" or members.ndim != 1:
        raise Damaged("no member list")
    members = tuple(_text(m) for m in members)
    if not all(SEGMENT.match(m) for m in members):
        raise Damaged("a malformed member list")
    keys, values, step, digests = _datasets(h5, size, checksummed=True)
    return _File(name, _text(attrs.get("store_id")) or "", keys, values, step, level=level, lo=lo, hi=hi,
                 members=members, digests=digests)


def _chunks(file, damage):
    """The file's records, chunk by chunk, as (keys, values) lists; a chunk that fails is counted, not returned."""
    count = len(file)
    try:
        digests = None if file.digests is None else file.digests[()]
    except UNREADABLE:
        digests = np.zeros((-(-count // file.step), DIGEST), np.uint8)  # no chunk can match
    for index, start in enumerate(range(0, count, file.step)):
        stop = min(count, start + file.step)
        try:
            keys, values = file.keys[start:stop], file.values[start:stop].astype(VALUE)
        except UNREADABLE:
            damage.chunk(file.label, stop - start)
            continue
        # fletcher32 of zeros is zero: a chunk that came back zeroed (data and checksum) passes it.
        if digests is not None and _digest(keys, values) != digests[index].tobytes():
            damage.chunk(file.label, stop - start)
            continue
        yield keys.astype(str).tolist(), values.tolist()


def _digest(keys, values):
    return hashlib.sha256(np.ascontiguousarray(keys).tobytes() + np.ascontiguousarray(values).tobytes()).digest()


def level_for(count):
    level, capacity = 0, BASE
    while count > capacity:
        level, capacity = level + 1, capacity * FANOUT
    return level


def segment_name(level, lo, hi):
    return f"L{level:02d}-{lo:012d}-{hi:012d}.h5"


def _write_file(final, attrs, keys, values):
    """Write a store file atomically (``atomicfile``). Built in memory and written with plain file I/O so
    that a full disk fails as one OSError, not inside HDF5, which cannot recover from it."""
    keys = np.asarray(keys, dtype=KEY)
    values = np.asarray(values, dtype=VALUE)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", libver=LIBVER) as h5:
        for name, value in attrs.items():
            h5.attrs[name] = np.bytes_(value.encode()) if isinstance(value, str) else value
        chunks, maxshape = ((min(len(keys), CHUNK),), (len(keys),)) if len(keys) else ((1,), (None,))
        for name, data in (("keys", keys), ("values", values)):
            h5.create_dataset(name, data=data, chunks=chunks, maxshape=maxshape, fletcher32=True)
        digests = np.array([np.frombuffer(_digest(keys[i:i + CHUNK], values[i:i + CHUNK]), np.uint8)
                            for i in range(0, len(keys), CHUNK)], dtype=np.uint8).reshape(-1, DIGEST)
        h5.create_dataset("digests", data=digests, chunks=(max(1, min(len(digests), 1024)), DIGEST),
                          maxshape=(None, DIGEST), fletcher32=True)
    write_atomically(final, buffer.getbuffer())


@contextmanager
def _opened(path, inspect, name):
    """A store file, validated by ``inspect``, open for reading until the block ends."""
    with open(path, "rb") as handle:
        h5 = h5py.File(handle, "r")
        try:
            yield inspect(h5, name, os.fstat(handle.fileno()).st_size)
        finally:
            h5.close()


def _merged_name(members, count):
    lows = [int(SEGMENT.match(m).group(2)) for m in members]
    highs = [int(SEGMENT.match(m).group(3)) for m in members]
    level = max(int(SEGMENT.match(members[0]).group(1)) + 1, level_for(count))
    return segment_name(level, min(lows), max(highs))


def _sequence(name):
    return int(SEGMENT.match(name).group(3))


class ScoreStore:
    """``ScoreStore(path).read() -> {key: value}``, ``.add({key: value})``, ``len()``.

    ``writable`` (the default) opens the store as a writer would: leftovers of killed writers are
    removed, damaged segments set aside, and a format-1 store upgraded. The store is validated here,
    before any work starts; scores are verified when read.
    """

    def __init__(self, path, writable=True):
        self.path = Path(path)
        self.segments = self.path.with_name(self.path.name + ".segments")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.writable = writable
        self._keys = None  # every key known to be stored, once read: a commit adds only the others
        self._seen = set()  # segments whose keys are in _keys
        self._root_seen = None  # identity of the root file whose keys are in _keys
        self._root_cache = (None, None)  # (identity, summary) of the last root validated
        self._skip = set()  # damaged segments this reader leaves out (a writer sets them aside)
        self._repair = set()  # files with chunks that failed their checksums: rewritten by the next commit
        self._warned = set()
        if self.path.is_dir():
            raise TenasError(f"--store '{self.path}' is a directory; give a file path such as scores.h5.")
        root = self._root_summary()
        if writable:
            self._maintain(root)
        if not self.writable and root is not None:
            self._leave_out_damaged(root)

    # -- reading -------------------------------------------------------------------------------

    def read(self):
        """Every stored score whose checksums hold, as {key: value}."""
        out = {}
        for keys, values in self._scan():
            if not out:
                out = dict(zip(keys, values))
            else:  # the first commit of a key wins, as it did when commits checked the store
                out.update({k: v for k, v in zip(keys, values) if k not in out})
        self._keys = set(out)
        return out

    def records(self):
        """Every stored (key, value) in commit order, duplicates included (a killed merge leaves some)."""
        out = []
        for keys, values in self._scan():
            out.extend(zip(keys, values))
        return out

    def __len__(self):
        return len(self.read())

    def _scan(self):
        """Each usable file's records as (keys, values) lists, root first, then segments in commit order."""
        damage, parts, version = _Damage(), [], FORMAT_VERSION
        with self._pinned() as (root_handle, handles), ExitStack() as files:
            if root_handle is None:
                return []
            root = files.enter_context(self._root(root_handle))
            version, found, mine = root.version, [], set()
            for name, handle in handles:
                if name in self._skip:
                    continue
                try:
                    h5 = files.enter_context(h5py.File(handle, "r"))
                    segment = _inspect_segment(h5, name, os.fstat(handle.fileno()).st_size)
                except Damaged as exc:
                    damage.files.append((name, str(exc)))
                    continue
                except UNREADABLE as exc:
                    damage.files.append((name, _reason(exc)))
                    continue
                if segment.store_id == root.store_id:
                    mine.add(name)
                    if segment.hi > root.folded:
                        found.append(segment)
            merged = {m for f in found for m in f.members}
            ordered = [root] + sorted((f for f in found if f.label not in merged), key=lambda f: (f.lo, f.hi))
            for file in ordered:
                parts.extend(_chunks(file, damage))
            self._repair.update(damage.chunks)
            self._seen |= mine | merged
            self._root_seen = _identity(os.fstat(root_handle.fileno()))
        self._skip.update(label for label, _ in damage.files)
        self._report(damage.line(self.path))
        if version == 1:
            self._report(f"score store '{self.path}' has no checksums (format 1, written by an older tenas-kit): "
                         f"its scores are read unverified; a writable open (tenaskit rank --store) upgrades it.")
        return parts

    @contextmanager
    def _pinned(self):
        """The root and the segments of one listing, each held open: a merge that removes a listed
        segment after it was opened cannot take its scores away, and one that removed it before
        has already renamed its replacement into place, which the next listing finds."""
        for _ in range(100):
            handles, root = [], None
            try:
                for name in self._names():
                    handles.append((name, open(self.segments / name, "rb")))
                if self.path.exists():
                    root = open(self.path, "rb")
            except OSError as exc:
                for _, handle in handles:
                    handle.close()
                if isinstance(exc, FileNotFoundError):
                    continue
                raise TenasRuntimeError(f"cannot read the score store '{self.path}': {exc.strerror or exc}.") from None
            try:
                yield root, handles
            finally:
                for _, handle in handles:
                    handle.close()
                if root is not None:
                    root.close()
            return
        raise TenasRuntimeError(f"score store '{self.path}' changed under every attempt to read it; try again.")

    def _names(self):
        try:
            return sorted(name for name in os.listdir(self.segments) if SEGMENT.match(name))
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise TenasRuntimeError(f"'{self.segments}' is not a directory; move it away to use --store "
                                    f"'{self.path}'.") from None

    @contextmanager
    def _root(self, handle):
        """The root file open in ``handle``, validated; what is wrong with it stops the command."""
        try:
            h5 = h5py.File(handle, "r")
        except UNREADABLE as exc:
            handle.seek(0)
            if handle.read(8) != b"\x89HDF\r\n\x1a\n":
                raise TenasRuntimeError(f"'{self.path}' is not an HDF5 file; choose another --store or delete it.") from None
            raise self._damaged_root(f"not an HDF5 file that opens: {_reason(exc)}") from None
        try:
            try:
                root = _inspect_root(h5, str(self.path), os.fstat(handle.fileno()).st_size)
            except Damaged as exc:
                raise self._damaged_root(str(exc)) from None
            except UNREADABLE as exc:
                raise self._damaged_root(_reason(exc)) from None
            yield root
        finally:
            h5.close()

    def _damaged_root(self, reason):
        return TenasRuntimeError(f"score store '{self.path}' is damaged ({reason}); delete it to start a new store "
                                 f"(its scores will be recomputed) or choose another --store.")

    def _root_summary(self):
        """The root file's version, id and folded sequence, validated; None when there is none."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TenasRuntimeError(f"cannot read the score store '{self.path}': {exc.strerror or exc}.") from None
        with handle:
            identity = _identity(os.fstat(handle.fileno()))
            if self._root_cache[0] == identity:
                return self._root_cache[1]
            with self._root(handle) as root:
                summary = {"version": root.version, "store_id": root.store_id, "folded": root.folded}
        self._root_cache = (identity, summary)
        return summary

    def _survey(self, root):
        """Each segment's state: 'ok', 'foreign' (a deleted store's), 'redundant' (merged or folded by a
        writer that was killed before removing it) or 'damaged', with the reason."""
        found, merged = {}, set()
        for name in self._names():
            try:
                with _opened(self.segments / name, _inspect_segment, name) as segment:
                    pass
            except FileNotFoundError:
                continue  # merged away since the listing
            except Damaged as exc:
                found[name] = ("damaged", str(exc))
                continue
            except UNREADABLE as exc:
                found[name] = ("damaged", _reason(exc))
                continue
            if root is None or segment.store_id != root["store_id"]:
                found[name] = ("foreign", None)
            elif segment.hi <= root["folded"]:
                found[name] = ("redundant", None)
            else:
                found[name] = ("ok", None)
                merged.update(segment.members)
        return {name: ("redundant", None) if name in merged and state == "ok" else (state, reason)
                for name, (state, reason) in found.items()}

    def _leave_out_damaged(self, root):
        damaged = {name: reason for name, (state, reason) in self._survey(root).items() if state == "damaged"}
        if damaged:
            self._skip.update(damaged)
            listed = "; ".join(f"{name}: {reason}" for name, reason in sorted(damaged.items()))
            self._report(f"score store '{self.path}': {len(damaged)} damaged segment{'s' * (len(damaged) != 1)} "
                         f"left out ({listed}); their scores will be recomputed.")

    # -- writing -------------------------------------------------------------------------------

    def add(self, items):
        """Commit the {key: value} items not yet stored as one new segment; returns how many were new."""
        if not items:
            return 0
        for key in items:
            if not isinstance(key, str) or len(key) != KEY.itemsize or not key.isascii():
                raise ValueError(f"a score key is a 40-character sha1 hex digest, not {key!r}")
        try:
            with self._locked():
                root = self._catch_up()
                self._fix(root)
                fresh = [(k, float(v)) for k, v in items.items() if k not in self._keys]
                if not fresh:
                    return 0
                if root is None:
                    root = self._create_root()
                seq = max([root["folded"]] + [_sequence(n) for n in self._names()]) + 1
                name = segment_name(level_for(len(fresh)), seq, seq)
                self.segments.mkdir(exist_ok=True)
                _write_file(self.segments / name, _segment_attrs(root["store_id"], name, ()),
                            [k for k, _ in fresh], [v for _, v in fresh])
                self._keys.update(k for k, _ in fresh)
                self._seen.add(name)
                self._merge_levels(root)
                return len(fresh)
        except OSError as exc:
            raise self._unwritable(exc) from None

    def compact(self):
        """Fold every segment into the root file, so that the store is one file again (``merge`` does this)."""
        try:
            with self._locked():
                root = self._catch_up()
                names = self._names()
                if root is None or not (names or self._repair or self._skip):
                    return
                records = self.read()  # under the lock: nothing changes while it is folded
                folded = max([root["folded"]] + [_sequence(n) for n in names])
                self._write_root(root["store_id"], folded, list(records), list(records.values()))
                for name in names:
                    if name in self._skip:
                        self._set_aside(name)
                    else:
                        (self.segments / name).unlink(missing_ok=True)
                fsync_dir(self.segments)
                self._repair.clear()
                self._seen.update(names)
        except OSError as exc:
            raise self._unwritable(exc) from None

    def _unwritable(self, exc):
        return TenasRuntimeError(f"cannot write the score store '{self.path}': {exc.strerror or exc}; "
                                 f"free some space or choose a writable --store.")

    @contextmanager
    def _locked(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(self.lock_path, "a")
        except OSError as exc:
            raise TenasRuntimeError(f"cannot write the score store '{self.path}': {exc.strerror or exc}; choose a writable --store.") from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _catch_up(self):
        """Under the lock: learn the keys other writers committed since this store last looked.

        Costs what they added: a segment merged only from segments already seen is not read, and the
        root only when someone rewrote it.
        """
        root = self._root_summary()
        if self._keys is None or self._root_cache[0] != self._root_seen:
            self.read()
            return root
        if root is None:
            return None  # segments without a root belong to a deleted store
        for name in self._names():
            if name in self._seen or name in self._skip:
                continue
            damage = _Damage()
            try:
                with _opened(self.segments / name, _inspect_segment, name) as segment:
                    merged_from_seen = segment.members and set(segment.members) <= self._seen
                    if segment.store_id == root["store_id"] and not merged_from_seen:
                        for keys, _ in _chunks(segment, damage):
                            self._keys.update(keys)
            except FileNotFoundError:
                continue
            except (Damaged, *UNREADABLE):
                self._skip.add(name)
                continue
            self._seen.add(name)
            if damage.chunks:
                self._repair.add(name)
                self._report(damage.line(self.path))
        return root

    def _create_root(self):
        """A new store: its root file, with a new id. Segments already there belong to a deleted store."""
        store_id = uuid.uuid4().hex
        self._write_root(store_id, 0, [], [])
        for name in self._names():
            (self.segments / name).unlink(missing_ok=True)
        self._root_seen = self._identity()
        return {"version": FORMAT_VERSION, "store_id": store_id, "folded": 0}

    def _write_root(self, store_id, folded, keys, values):
        attrs = {"format": FORMAT, "format_version": FORMAT_VERSION, "store_id": store_id, "folded_through": folded}
        _write_file(self.path, attrs, keys, values)
        self._root_seen = self._identity()

    def _identity(self):
        try:
            return _identity(self.path.stat())
        except FileNotFoundError:
            return None

    def _merge_levels(self, root):
        """Merge the segments of any level that has FANOUT of them into one segment of the next level."""
        while True:
            levels = {}
            for name in self._names():
                if name not in self._skip:
                    levels.setdefault(int(SEGMENT.match(name).group(1)), []).append(name)
            full = sorted(level for level, names in levels.items() if len(names) >= FANOUT)
            if not full:
                return
            members = sorted(levels[full[0]], key=lambda n: SEGMENT.match(n).group(2))
            keys, values, kept, damage = [], [], set(), _Damage()
            for name in members:
                try:
                    with _opened(self.segments / name, _inspect_segment, name) as segment:
                        for chunk_keys, chunk_values in _chunks(segment, damage):
                            for key, value in zip(chunk_keys, chunk_values):
                                if key not in kept:
                                    kept.add(key)
                                    keys.append(key)
                                    values.append(value)
                except (Damaged, *UNREADABLE) as exc:
                    damage.files.append((name, str(exc) if isinstance(exc, Damaged) else _reason(exc)))
            self._report(damage.line(self.path))
            for name, _ in damage.files:
                self._set_aside(name)
            members = [m for m in members if m not in {n for n, _ in damage.files}]
            if members:
                name = _merged_name(members, len(keys))
                _write_file(self.segments / name, _segment_attrs(root["store_id"], name, members), keys, values)
                self._seen.add(name)
                for member in members:
                    (self.segments / member).unlink(missing_ok=True)
                    self._repair.discard(member)
                fsync_dir(self.segments)
            if damage.chunks or damage.files:
                self.read()  # what the damaged chunks held is stored nowhere now: let it be committed again

    def _fix(self, root):
        """Under the lock: rewrite files whose chunks failed their checksums without those chunks,
        and set aside segments that cannot be read at all."""
        for label in sorted(self._repair):
            is_root = label == str(self.path)
            target = self.path if is_root else self.segments / label
            damage, keys, values = _Damage(), [], []
            try:
                with _opened(target, _inspect_root if is_root else _inspect_segment, label) as file:
                    for chunk_keys, chunk_values in _chunks(file, damage):
                        keys.extend(chunk_keys)
                        values.extend(chunk_values)
            except FileNotFoundError:
                continue  # merged away, and its damaged chunks with it
            except (Damaged, *UNREADABLE):
                if not is_root:
                    self._skip.add(label)
                continue
            if not damage.chunks:
                continue  # it reads now: what failed was the disk, not the file
            if is_root:
                self._write_root(file.store_id, file.folded, keys, values)
            else:
                _write_file(target, _segment_attrs(file.store_id, label, file.members), keys, values)
        self._repair.clear()
        for name in sorted(self._skip):
            self._set_aside(name)

    def _set_aside(self, name):
        """A damaged segment is renamed, never read again, and kept for whoever wants to look at it."""
        try:
            os.replace(self.segments / name, self.segments / (name + ".damaged"))
        except FileNotFoundError:
            pass
        self._skip.discard(name)

    # -- opening for writing -------------------------------------------------------------------

    def _stale_temps(self):
        """Temporary files of writers on this host that are no longer running."""
        # Format 1 named its temporary files without the host: they are this host's.
        beside = re.compile(rf"^\.{re.escape(self.path.name)}\.(?:(?P<host>[A-Za-z0-9-]+)\.)?(?P<pid>\d+)\.tmp$")
        found = []
        for folder, pattern in ((self.path.parent, beside), (self.segments, SEGMENT_TEMP)):
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for name in names:
                match = pattern.match(name)
                if match and match.group("host") in (None, HOST) and not alive(int(match.group("pid"))):
                    found.append(folder / name)
        return found

    def _maintain(self, root):
        """Tidy the store before work starts. What needs it is rare, so the lock is taken only then."""
        survey = self._survey(root) if root is not None else {}
        if not (self._stale_temps() or (root and root["version"] == 1)
                or any(state != "ok" for state, _ in survey.values())):
            return
        try:
            lock = self._locked()
            lock.__enter__()
        except TenasRuntimeError:
            self.writable = False  # a store on a read-only disk is still read; its tidying waits
            return
        try:
            for temp in self._stale_temps():
                temp.unlink(missing_ok=True)
            root = self._root_summary()
            if root is not None and root["version"] == 1:
                self._upgrade()
                root = self._root_summary()
            damaged = []
            for name, (state, reason) in self._survey(root).items():
                if state == "damaged":
                    damaged.append(f"{name}: {reason}")
                    self._set_aside(name)
                elif state in ("foreign", "redundant"):
                    (self.segments / name).unlink(missing_ok=True)
            if damaged:
                self._report(f"score store '{self.path}': {len(damaged)} damaged segment{'s' * (len(damaged) != 1)} "
                             f"set aside as NAME.damaged ({'; '.join(damaged)}); their scores will be recomputed.")
        except OSError:
            self.writable = False
        finally:
            lock.__exit__(None, None, None)

    def _upgrade(self):
        """A format-1 store, rewritten in place as a format-2 root holding the same scores."""
        records, damage = {}, _Damage()
        with _opened(self.path, _inspect_root, str(self.path)) as file:
            for keys, values in _chunks(file, damage):
                records.update({k: v for k, v in zip(keys, values) if k not in records})
        if damage.chunks:
            raise self._damaged_root("its data cannot be read")
        self._write_root(uuid.uuid4().hex, 0, list(records), list(records.values()))
        self._report(f"score store '{self.path}' had no checksums (format 1, written by an older tenas-kit): upgraded "
                     f"to format {FORMAT_VERSION} in place; its {len(records)} scores were kept as they were, unverified.")

    def _report(self, line):
        if line and line not in self._warned:
            self._warned.add(line)
            warn(line)


def _identity(info):
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _segment_attrs(store_id, name, members):
    level, lo, hi = (int(g) for g in SEGMENT.match(name).groups())
    width = max([1] + [len(m) for m in members])
    return {"format": SEGMENT_FORMAT, "format_version": FORMAT_VERSION, "store_id": store_id,
            "level": level, "lo": lo, "hi": hi, "members": np.array([m.encode() for m in members], dtype=f"S{width}")}


def _reason(exc):
    text = " ".join(str(exc).split())
    return (text[:120] + "...") if len(text) > 120 else (text or type(exc).__name__)


def merge(target, sources):
    """Add every score of ``sources`` (stores from shards) to ``target`` and fold it into one file;
    returns how many were new. Every source is validated before the target is touched."""
    stores = [ScoreStore(source, writable=False) for source in sources]
    store = ScoreStore(target)
    before = len(store)
    for source in stores:
        store.add(source.read())
    store.compact()
    return len(store) - before
