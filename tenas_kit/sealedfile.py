"""Checksummed ("sealed") HDF5 files: how run files and training files write every value under a checksum,
and read it back refusing what fails one.

Both formats keep results a user may have waited hours for, so neither may hand
back a flipped byte as a number. The scheme is stated once, here, so that the
two cannot drift apart: HDF5 file format 1.8 (``LIBVER``), whose superblock,
object headers (attributes included) and heaps carry checksums; every dataset
chunked with fletcher32 and the sha256 of its contents in its header (``put``);
text as fixed-length UTF-8 (``set_text``, ``utf8``), since variable-length
strings live in HDF5's global heap, which has no checksum; and one sha256 over
the attributes that describe the file (``seal``), which each format names.
``read_dataset`` checks a dataset's type, shape and stored size before it reads
anything, and its digest after. What each format holds, and its versions, stay
with the format (``runfile``, ``training.trainfile``).
"""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np

from tenas_kit.errors import TenasRuntimeError, one_line

# File format 1.8: checksummed superblock, object headers (attributes included) and heaps. Not 1.10,
# whose superblock marks a file open for writing until it is closed: after a kill -9 a partial file
# could then be neither resumed nor read without h5clear.
LIBVER = ("v108", "v108")

# What h5py raises on bytes that do not hold what they declare: a failed checksum, a broken index.
UNREADABLE = (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError)


class Damaged(ValueError):
    """The file is not what a file of its format and version must be; the message says where."""


def damaged(kind, path, exc, way_out):
    """The one line that refuses a damaged file of ``kind`` ("run file"), saying what to do instead."""
    reason = exc
    if isinstance(exc, OSError) and "filter returned failure" in str(exc):
        reason = "a dataset fails its fletcher32 checksum"
    return TenasRuntimeError(f"{kind} '{path}' is damaged ({one_line(reason)}); {way_out}.")


def put(group, name, data):
    """A chunked dataset with a fletcher32 checksum (an empty one needs an extendable shape to be chunked)."""
    data = np.atleast_1d(np.asarray(data))
    chunks = tuple(max(1, n) for n in data.shape)
    maxshape = None if all(data.shape) else (None,) * data.ndim
    dataset = group.create_dataset(name, data=data, chunks=chunks, maxshape=maxshape, fletcher32=True)
    dataset.attrs["sha256"] = np.bytes_(data_digest(data).encode())


def read_dataset(group, name, kinds, size, ndim=None, checksummed=True):
    """A dataset's values once its type, shape and stored bytes are what is written, and before anything is
    allocated from its declared shape. ``kinds``: numpy kinds ("fiu") or "text"; ``size``: the file's bytes;
    ``checksummed=False``: a file from before checksums (variable-length text, no digests)."""
    ds = group.get(name)
    if not isinstance(ds, h5py.Dataset):
        raise Damaged(f"'{group.name}/{name}' is missing or not a dataset")
    dtype = ds.dtype
    if kinds == "text":
        fits = dtype.kind == "S" if checksummed else h5py.check_string_dtype(dtype) is not None
    else:
        fits = dtype.kind in kinds and h5py.check_vlen_dtype(dtype) is None and h5py.check_ref_dtype(dtype) is None
    if not fits:
        raise Damaged(f"'{ds.name}' holds {dtype}, not {'text' if kinds == 'text' else 'numbers'}")
    if ds.shape is None or (ndim is not None and len(ds.shape) != ndim):
        raise Damaged(f"'{ds.name}' has shape {ds.shape}, not {ndim} dimensions")
    declared = ds.size * (dtype.itemsize if dtype.kind != "O" else 16)
    if declared > size:
        raise Damaged(f"'{ds.name}' declares {ds.shape} entries, more than the file's {size} bytes hold")
    if checksummed and (not ds.fletcher32 or ds.chunks is None):
        raise Damaged(f"'{ds.name}' has no checksum")
    if dtype.kind != "O" and ds.id.get_storage_size() < declared:
        raise Damaged(f"'{ds.name}' declares {ds.shape} entries but stores fewer bytes")
    values = ds[()]
    # fletcher32 covers a chunk's bytes, not HDF5's index of where the chunks are (file format 1.8 has no
    # checksum on it): a damaged index can point at zeroed space, whose fletcher32 holds, or lose a chunk,
    # which then reads as fill values. The digest covers what was read, wherever it came from.
    if checksummed and plain(ds.attrs.get("sha256")) != data_digest(values):
        raise Damaged(f"'{ds.name}' fails its sha256 checksum")
    return values


def data_digest(array):
    """What a dataset holds, hashed: its type, shape and bytes. Kept in the dataset's (checksummed) header."""
    array = np.ascontiguousarray(array)
    return hashlib.sha256(f"{array.dtype.str}{array.shape}".encode() + array.tobytes()).hexdigest()


def plain(value):
    """An attribute or label as Python text where it is text (stored as fixed-length UTF-8)."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    return value


def utf8(texts):
    """Text as a fixed-length UTF-8 array: stored in the dataset's own chunks, under its checksum."""
    encoded = [t.encode("utf-8") for t in texts]
    return np.array(encoded, dtype=f"S{max([1] + [len(e) for e in encoded])}")


def set_text(attrs, **texts):
    """Fixed-length UTF-8 attributes: stored in the object header, under its checksum."""
    for name, text in texts.items():
        attrs[name] = np.bytes_(text.encode("utf-8"))


def digest(values, names):
    """The sha256, as text, of the attributes ``names`` among ``values`` (those absent left out): what a reader
    compares with the stored ``sha256``."""
    sealed = {}
    for name in names:
        if name in values:
            value = plain(values[name])
            sealed[name] = value.item() if isinstance(value, np.generic) else value
    return hashlib.sha256(json.dumps(sealed, sort_keys=True).encode()).hexdigest()


def seal(attrs, names):
    """The attribute ``sha256`` over the attributes ``names``: what describes the file, set once it is known."""
    set_text(attrs, sha256=digest({name: attrs[name] for name in names if name in attrs}, names))
