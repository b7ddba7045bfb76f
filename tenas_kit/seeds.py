"""Every random draw derives from the run seed and named coordinates, never from order of work."""

import zlib

import numpy as np


def derive(*parts):
    """A 63-bit seed from a run seed and any mix of ints and strings."""
    words = [p if isinstance(p, int) else zlib.crc32(str(p).encode()) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def numpy_rng(*parts):
    return np.random.default_rng(derive(*parts))
