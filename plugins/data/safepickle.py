"""Reading CIFAR and ImageNet16 pickle batches without letting a pickle run code.

``pickle.load`` calls whatever a file names (``os.system`` included). These
batches hold only a dict of plain values and numpy arrays, so the unpickler
resolves exactly the globals needed to rebuild those and refuses every other
one before it is imported or called.
"""

from __future__ import annotations

import pickle

from tenas_kit.errors import TenasRuntimeError

_NUMPY = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype")}
_BUILTINS = {("builtins", name) for name in
             ("list", "dict", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int", "float", "complex", "bool")}
# Protocol-2 pickles written by Python 3 rebuild bytes as _codecs.encode(str, 'latin1').
ALLOWED = _NUMPY | _BUILTINS | {("_codecs", "encode")}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(
                f"refused to load global '{module}.{name}': a data batch holds only numpy arrays and plain values"
            )
        return super().find_class(module, name)


def load_batch(path, problem):
    """The object in a pickle batch file; anything unreadable or unsafe is one runtime error,
    ``problem`` followed by the reason."""
    try:
        with open(path, "rb") as handle:
            return RestrictedUnpickler(handle, encoding="latin1").load()
    except Exception as exc:  # a damaged file fails in many ways; each is the same problem to the user
        raise TenasRuntimeError(f"{problem}: {type(exc).__name__}: {exc}") from None


def field(entry, *names):
    """``entry[name]`` for the first name present, as str or bytes keys (Python 2 pickles have either)."""
    if isinstance(entry, dict):
        for name in names:
            for key in (name, name.encode()):
                if key in entry:
                    return entry[key]
    raise KeyError(f"no '{names[0]}' entry")
