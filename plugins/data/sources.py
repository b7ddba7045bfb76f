"""Where images come from: an embedded stand-in, noise, and real data sets on disk."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tenas_kit.errors import TenasError, TenasRuntimeError

from .safepickle import field, load_batch

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# Decoded images a FileImages keeps per process: a search draws a new batch every round and repeat from the
# same files, and decoding them again cost up to 2% of an NB201 search.
DECODED_CACHE_BYTES = 256 * 2**20


def _resize(images, resolution):
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

    @property
    def fingerprint(self):
        """Content hash: scores cached for these images are reused only for the same pixels."""
        return hashlib.sha1(self.images.numpy().tobytes()).hexdigest()

    def __len__(self):
        return len(self.images)

    def load(self, indices):
        return self.images[torch.as_tensor(np.asarray(indices), dtype=torch.long)]

    def labels(self, indices):
        """Class indices of the images at ``indices``; None when unknown."""
        if self.targets is None:
            return None
        return self.targets[torch.as_tensor(np.asarray(indices), dtype=torch.long)]


class EmbeddedSource:
    """Stand-in data that needs no download: crops of scikit-image's bundled photographs.

    Each photograph is scaled so its short side is 4 crops wide (objects then
    fill a crop roughly as in CIFAR), and a fixed pool of random crops is cut.
    """

    name = "embedded"
    description = "random crops of scikit-image's bundled photographs (a stand-in for real data)"
    priority = 100
    photos = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "hubble_deep_field", "camera", "grass", "gravel", "brick")
    pool_size, scale = 4096, 4

    def claims(self, spec):
        return spec == self.name

    def open(self, spec, dataset):
        import skimage.data

        generator = np.random.default_rng(0)
        r = dataset.resolution
        crops = []
        for name in self.photos:
            pixels = getattr(skimage.data, name)()
            pixels = pixels[0] if isinstance(pixels, tuple) else pixels  # stereo pairs
            photo = Image.fromarray(pixels).convert("RGB")
            factor = r * self.scale / min(photo.size)
            photo = photo.resize((round(photo.size[0] * factor), round(photo.size[1] * factor)), Image.BILINEAR)
            array = torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1)
            share = -(-self.pool_size // len(self.photos))  # ceil; the pool is cut to size below
            ys = generator.integers(0, array.shape[1] - r + 1, size=share)
            xs = generator.integers(0, array.shape[2] - r + 1, size=share)
            crops += [array[:, y : y + r, x : x + r] for y, x in zip(ys, xs)]
        crops = crops[: self.pool_size]
        return TensorImages(torch.stack(crops), f"embedded stand-in: {len(crops)} crops of {len(self.photos)} photographs")


class SyntheticSource:
    """Uniform noise images, for smoke tests; no real-image statistics at all."""

    name = "synthetic"
    description = "uniform random noise images (smoke tests only)"
    priority = 100
    size = 10000

    def claims(self, spec):
        return spec == self.name

    def open(self, spec, dataset):
        r = dataset.resolution

        class Noise:
            description = "synthetic uniform noise"

            fingerprint = f"synthetic-{SyntheticSource.size}-{r}"

            def __len__(self):
                return SyntheticSource.size

            def load(self, indices):
                return torch.stack(
                    [torch.from_numpy(np.random.default_rng(int(i)).integers(0, 256, (3, r, r), dtype=np.uint8)) for i in indices]
                )

        return Noise()


class CifarSource:
    """A torchvision CIFAR-10/100 root (``cifar-10-batches-py`` or ``cifar-100-python`` inside)."""

    name = "cifar"
    description = "torchvision CIFAR-10/100 root (training split)"
    priority = 50

    def claims(self, spec):
        root = Path(spec)
        return (root / "cifar-10-batches-py").is_dir() or (root / "cifar-100-python").is_dir()

    def open(self, spec, dataset):
        root = Path(spec)
        if (root / "cifar-100-python").is_dir():
            kind, files, label_names = "CIFAR100", [root / "cifar-100-python" / "train"], ("fine_labels",)
        else:
            folder = root / "cifar-10-batches-py"
            kind, files, label_names = "CIFAR10", [folder / f"data_batch_{i}" for i in range(1, 6)], ("labels",)
        found = [f for f in files if f.is_file()]
        if not found:
            raise TenasError(f"--data '{spec}' is a {kind} root without its training batches ({files[0].name}...).")
        batches = [_batch(f, label_names, 32, f"cannot read CIFAR data under '{spec}'") for f in found]
        data = np.concatenate([d for d, _ in batches])
        targets = torch.as_tensor(np.concatenate([t for _, t in batches]).astype(np.int64))
        return TensorImages(_resize(torch.from_numpy(data), dataset.resolution), f"{kind} training split at {spec}", targets)


def _batch(path, label_names, side, problem):
    """(uint8 images (n, 3, side, side), labels) of one pickle batch, read by the restricted unpickler."""
    entry = load_batch(path, problem)
    try:
        data = np.asarray(field(entry, "data"), dtype=np.uint8).reshape(-1, 3, side, side)
        labels = np.asarray(field(entry, *label_names)).reshape(-1)
        if len(labels) != len(data):
            raise ValueError(f"{len(data)} images but {len(labels)} labels")
    except (KeyError, ValueError, TypeError) as exc:
        raise TenasRuntimeError(f"{problem}: '{path}' is not an image batch ({exc}).") from None
    return data.copy(), labels


class ImageNet16Source:
    """NAS-Bench-201's ImageNet16 pickles (``train_data_batch_1`` ...); classes 1-120 kept for ImageNet16-120.

    Only the first training file is read: it holds over 10,000 images of the
    120 classes, far more than a search draws.
    """

    name = "imagenet16"
    description = "NAS-Bench-201 ImageNet16 pickles (train_data_batch_1)"
    priority = 50

    def claims(self, spec):
        return (Path(spec) / "train_data_batch_1").is_file()

    def open(self, spec, dataset):
        path = Path(spec) / "train_data_batch_1"
        data, labels = _batch(path, ("labels",), 16, f"cannot read ImageNet16 pickle '{path}'")
        if dataset.num_classes == 120:
            keep = (labels >= 1) & (labels <= 120)
            data, labels = data[keep], labels[keep]
        targets = torch.from_numpy(labels.astype(np.int64) - 1)  # the pickles number classes from 1
        return TensorImages(_resize(torch.from_numpy(data.copy()), dataset.resolution), f"ImageNet16 at {spec}", targets)


class ImageFolderSource:
    """A directory of class sub-directories of images (torchvision ImageFolder layout), or a flat one."""

    name = "imagefolder"
    description = "a directory of images, ImageFolder layout (class sub-directories give labels) or flat"
    priority = 10

    def claims(self, spec):
        return Path(spec).is_dir()

    def open(self, spec, dataset):
        root = Path(spec)
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        return FileImages(files, dataset.resolution, f"{len(files)} image files under {spec}", root)


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

    @property
    def fingerprint(self):
        """Names and sizes of the files (relative to the root) and the resolution: cheap, and
        independent of where the directory lies."""
        digest = hashlib.sha1(str(self.resolution).encode())
        for path in self.files:
            name = path.relative_to(self.root) if self.root else path.name
            digest.update(f"{name}:{path.stat().st_size};".encode())
        return digest.hexdigest()

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
