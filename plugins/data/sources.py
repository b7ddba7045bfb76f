"""Where images come from: an embedded stand-in, noise, and real data sets on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tenas_kit.errors import TenasError, TenasRuntimeError

from .safepickle import field, load_batch

# Each open() imports .images (torch, PIL) when it runs: the plugin is imported, and sources claim
# --data, while the CLI starts.

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


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
        from .images import embedded

        return embedded(self.photos, dataset.resolution, self.pool_size, self.scale)


class SyntheticSource:
    """Uniform noise images, for smoke tests; no real-image statistics at all."""

    name = "synthetic"
    description = "uniform random noise images (smoke tests only)"
    priority = 100
    size = 10000

    def claims(self, spec):
        return spec == self.name

    def open(self, spec, dataset):
        from .images import Noise

        return Noise(SyntheticSource.size, dataset.resolution)


class CifarSource:
    """A torchvision CIFAR-10/100 root (``cifar-10-batches-py`` or ``cifar-100-python`` inside)."""

    name = "cifar"
    description = "torchvision CIFAR-10/100 root (training split)"
    priority = 50

    def claims(self, spec):
        root = Path(spec)
        return (root / "cifar-10-batches-py").is_dir() or (root / "cifar-100-python").is_dir()

    def open(self, spec, dataset):
        from .images import labelled

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
        targets = np.concatenate([t for _, t in batches]).astype(np.int64)
        return labelled(data, targets, dataset.resolution, f"{kind} training split at {spec}")


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
        from .images import labelled

        path = Path(spec) / "train_data_batch_1"
        data, labels = _batch(path, ("labels",), 16, f"cannot read ImageNet16 pickle '{path}'")
        if dataset.num_classes == 120:
            keep = (labels >= 1) & (labels <= 120)
            data, labels = data[keep], labels[keep]
        targets = labels.astype(np.int64) - 1  # the pickles number classes from 1
        return labelled(data.copy(), targets, dataset.resolution, f"ImageNet16 at {spec}")


class ImageFolderSource:
    """A directory of class sub-directories of images (torchvision ImageFolder layout), or a flat one."""

    name = "imagefolder"
    description = "a directory of images, ImageFolder layout (class sub-directories give labels) or flat"
    priority = 10

    def claims(self, spec):
        return Path(spec).is_dir()

    def open(self, spec, dataset):
        from .images import FileImages

        root = Path(spec)
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        return FileImages(files, dataset.resolution, f"{len(files)} image files under {spec}", root)

