"""What an HDF5 file holds, minus what legitimately changes between identical runs.

Used to check determinism (the same command and seed give the same file) and
resumption (an interrupted and resumed run gives the uninterrupted file).
"""

from __future__ import annotations

import h5py
import numpy as np

# Wall-clock fields: when a run was created and how long its rounds took.
VOLATILE = frozenset({"created", "seconds"})


def content(path, volatile=VOLATILE):
    """{"/path/to/object": value, "/path@attr": value} for every dataset and attribute."""
    out = {}
    with h5py.File(path, "r") as h5:
        _attrs(out, "/", h5, volatile)

        def visit(name, obj):
            if name.rsplit("/", 1)[-1] in volatile:
                return
            if isinstance(obj, h5py.Dataset):
                out["/" + name] = obj[()]
            _attrs(out, "/" + name, obj, volatile)

        h5.visititems(visit)
    return out


def _attrs(out, prefix, obj, volatile):
    for key, value in obj.attrs.items():
        if key not in volatile:
            out[f"{prefix}@{key}"] = value


def differences(a, b):
    """Names whose values differ (NaN equals NaN), or that only one side has."""
    return sorted(name for name in a.keys() | b.keys()
                  if name not in a or name not in b or not _same(a[name], b[name]))


def _same(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.dtype.kind != y.dtype.kind:
        return False
    if x.dtype.kind == "f":
        return bool(np.array_equal(x, y, equal_nan=True))
    return bool(np.array_equal(x, y))
