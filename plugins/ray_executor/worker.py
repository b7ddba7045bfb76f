"""What runs on a Ray worker: a chunk of jobs, and the images that travel to it.

Imported by the driver's session and, by name, by every worker that runs a task. Plain Python: the session
makes ``run`` a Ray task, and torch is imported only where images or versions need it.
"""

from __future__ import annotations

import pickle
import time

import numpy as np

LOAD_CHUNK = 1024  # images read at a time while the driver copies a source into memory


def versions():
    """What must match between the driver and a worker for a score to be the same bits wherever it is made."""
    import torch

    import tenas_kit

    return {"tenas-kit": tenas_kit.__version__, "torch": torch.__version__}


def run(expected, payload, images=None):
    """Call each job of the pickled chunk ``payload``; returns ``(values per job, seconds spent)``.

    ``expected`` is the driver's ``versions()``: it is checked before the jobs are unpickled, since another
    tenas-kit may not even read them. ``images``: the driver's images (a TravellingImages resolved from the
    object store), or None where every node reads ``--data`` itself."""
    from tenas_kit import jobs
    from tenas_kit.errors import TenasRuntimeError

    found = versions()
    if found != expected:
        differ = ", ".join(f"{name} {expected[name]} on the driver but {found.get(name)} here"
                           for name in expected if found.get(name) != expected[name])
        raise TenasRuntimeError(f"a Ray worker runs other versions than the driver ({differ}); install the same "
                                f"tenas-kit and torch on every node (docs/scale-out.md).")
    chunk = pickle.loads(payload)
    if images is not None:
        jobs.provide_images(images.fingerprint, images)
    started = time.perf_counter()
    values = [job() for job in chunk]
    return values, time.perf_counter() - started


class TravellingImages:
    """An image source held in memory, with the fingerprint of the source it was copied from.

    The driver opens ``--data`` once and puts this in Ray's object store; every worker on every node reads
    the same pixels and labels from there, so a path that exists only on the driver's machine still works
    and the scores are those the driver would compute (the jobs' seeds draw the same batches)."""

    def __init__(self, pixels, targets, description, fingerprint):
        self.pixels, self.targets = pixels, targets  # uint8 (n, 3, R, R); int64 (n,) or None
        self.description, self.fingerprint = description, fingerprint

    def __len__(self):
        return len(self.pixels)

    def load(self, indices):
        import torch

        # Fancy indexing copies, so the tensor never shares the object store's read-only buffer.
        return torch.from_numpy(self.pixels[np.asarray(indices, dtype=np.int64)])

    def labels(self, indices):
        if self.targets is None:
            return None
        import torch

        return torch.from_numpy(self.targets[np.asarray(indices, dtype=np.int64)])


def travelling(images, fingerprint, limit):
    """A TravellingImages copy of the image source ``images``; a TenasError when it would exceed ``limit``
    bytes (the images then have to be at one path on every node, --ray-shared-data)."""
    from tenas_kit.errors import TenasError

    count = len(images)
    first = np.asarray(images.load(np.array([0])))
    size = count * first[0].nbytes
    if size > limit:
        raise TenasError(
            f"--data holds {count} images, {size / 2**30:.1f} GiB at the search resolution: too many to send "
            f"to the workers through Ray's object store (at most {limit / 2**30:.1f} GiB); put them at the same "
            f"path on every node and add --ray-shared-data.")
    pixels = np.empty((count, *first.shape[1:]), dtype=np.uint8)
    for start in range(0, count, LOAD_CHUNK):
        indices = np.arange(start, min(count, start + LOAD_CHUNK))
        pixels[indices] = np.asarray(images.load(indices))
    read = getattr(images, "labels", None)
    labels = read(np.arange(count)) if callable(read) else None
    targets = None if labels is None else np.asarray(labels, dtype=np.int64)
    return TravellingImages(pixels, targets, images.description, fingerprint)


def dumps(chunk):
    return pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)
