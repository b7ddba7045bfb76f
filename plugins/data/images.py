"""The image collections the built-in sources open: uint8 tensors, decoded files, noise.

Apart from the sources (``sources.py``) so that the plugin registers, and a
source claims ``--data``, without importing torch or PIL.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tenas_kit.errors import TenasRuntimeError

# Decoded images a FileImages keeps per process: a search draws a new batch every round and repeat from the
# same files, and decoding them again cost up to 2% of an NB201 search.
DECODED_CACHE_BYTES = 256 * 2**20


def resize(images, resolution):
    """uint8 (n, 3, h, w) -> uint8 (n, 3, R, R); only resamples when sizes differ."""
    if images.shape[-2:] == (resolution, resolution):
        return images
    out = F.interpolate(images.float(), size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def _pil_to_tensor(image, resolution):
    image = image.convert("RGB")
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), Image.BILINEAR)
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


class TensorImages:
    def __init__(self, images, description, targets=None):
        """``targets``: class index per image (0-based), when the source knows them."""
        self.images, self.description, self.targets = images, description, targets

    @functools.cached_property
    def fingerprint(self):
        """Content hash: scores cached for these images are reused only for the same pixels and labels."""
        digest = hashlib.sha1(np.ascontiguousarray(self.images.numpy()))
        if self.targets is not None:  # without labels, the hash is the one stores of unlabelled images hold
            digest.update(b"labels")
            digest.update(np.ascontiguousarray(self.targets.numpy(), dtype="<i8"))
        return digest.hexdigest()

    def __len__(self):
        return len(self.images)

    def load(self, indices):
        return self.images[torch.as_tensor(np.asarray(indices), dtype=torch.long)]

    def labels(self, indices):
        """Class indices of the images at ``indices``; None when unknown."""
        if self.targets is None:
            return None
        return self.targets[torch.as_tensor(np.asarray(indices), dtype=torch.long)]


def labelled(data, targets, resolution, description):
    """TensorImages of uint8 arrays (n, 3, h, w) resized to ``resolution``, with int64 class ``targets``."""
    return TensorImages(resize(torch.from_numpy(data), resolution), description, torch.as_tensor(targets))


def embedded(photos, resolution, pool_size, scale):
    """``pool_size`` random ``resolution`` crops of scikit-image's ``photos``, each scaled so its
    short side is ``scale`` crops wide."""
    import skimage.data

    generator = np.random.default_rng(0)
    r = resolution
    crops = []
    for name in photos:
        pixels = getattr(skimage.data, name)()
        pixels = pixels[0] if isinstance(pixels, tuple) else pixels  # stereo pairs
        photo = Image.fromarray(pixels).convert("RGB")
        factor = r * scale / min(photo.size)
        photo = photo.resize((round(photo.size[0] * factor), round(photo.size[1] * factor)), Image.BILINEAR)
        array = torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1)
        share = -(-pool_size // len(photos))  # ceil; the pool is cut to size below
        ys = generator.integers(0, array.shape[1] - r + 1, size=share)
        xs = generator.integers(0, array.shape[2] - r + 1, size=share)
        crops += [array[:, y : y + r, x : x + r] for y, x in zip(ys, xs)]
    crops = crops[:pool_size]
    return TensorImages(torch.stack(crops), f"embedded stand-in: {len(crops)} crops of {len(photos)} photographs")


class Noise:
    """``size`` uniform noise images; image i is drawn from a generator seeded with i."""

    description = "synthetic uniform noise"

    def __init__(self, size, resolution):
        self.size, self.resolution = size, resolution
        # Image i is a function of i, so two images stand for all of them: a numpy whose generator draws
        # other numbers changes these two as well. Hashing all of them would cost every process far more.
        probe = hashlib.sha1(np.ascontiguousarray(self.load([0, size - 1]).numpy())).hexdigest()
        self.fingerprint = f"synthetic-{size}-{resolution}-{probe}"

    def __len__(self):
        return self.size

    def load(self, indices):
        r = self.resolution
        return torch.stack(
            [torch.from_numpy(np.random.default_rng(int(i)).integers(0, 256, (3, r, r), dtype=np.uint8)) for i in indices]
        )


class FileImages:
    """Decodes only the images a batch needs, resized to the search resolution.

    Labels follow torchvision's ImageFolder: the class is the top-level
    sub-directory of ``root`` a file lies in, classes numbered in sorted name
    order. A folder with any image directly in ``root`` (flat) has no labels.
    """

    def __init__(self, files, resolution, description, root=None):
        self.files, self.resolution, self.description, self.root = files, resolution, description, root
        self._decode = functools.lru_cache(maxsize=max(1, DECODED_CACHE_BYTES // (3 * resolution**2)))(self._read)
        self.targets = self.classes = None
        if root is not None and files and all(len(p.relative_to(root).parts) > 1 for p in files):
            names = [p.relative_to(root).parts[0] for p in files]
            self.classes = sorted(set(names))
            number = {name: i for i, name in enumerate(self.classes)}
            self.targets = torch.tensor([number[name] for name in names], dtype=torch.long)

    @functools.cached_property
    def fingerprint(self):
        """The resolution and every file's name (relative to the root, so the directory may move) and bytes:
        a file replaced by another changes it, whatever its size and time stamps. Hashing the files rather
        than the decoded images spares decoding every file (docs/benchmarks.md measures both)."""
        digest = hashlib.sha1(str(self.resolution).encode())
        for path in self.files:
            name = path.relative_to(self.root) if self.root else path.name
            content = self._bytes(path)
            digest.update(f"{name}:{len(content)};".encode())
            digest.update(content)
        return digest.hexdigest()

    @staticmethod
    def _bytes(path):
        try:
            return path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or exc
            raise TenasRuntimeError(f"cannot read image '{path}': {reason}; remove or replace it.") from None

    def __len__(self):
        return len(self.files)

    def load(self, indices):
        return torch.stack([self._decode(int(i)) for i in indices])

    def _read(self, i):
        try:
            with Image.open(self.files[i]) as image:
                return _pil_to_tensor(image, self.resolution)
        except Exception as exc:
            raise TenasRuntimeError(f"cannot read image '{self.files[i]}': {exc}; remove or replace it.") from None

    def labels(self, indices):
        """Class indices of the files at ``indices``; None for a flat folder."""
        if self.targets is None:
            return None
        return self.targets[torch.as_tensor(np.asarray(indices), dtype=torch.long)]
