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
        return self.open_split(spec, dataset, "train")

    def open_split(self, spec, dataset, split):
        from .images import labelled

        root = Path(spec)
        if (root / "cifar-100-python").is_dir():
            kind, label_names = "CIFAR100", ("fine_labels",)
            files = [root / "cifar-100-python" / ("train" if split == "train" else "test")]
        else:
            folder = root / "cifar-10-batches-py"
            kind, label_names = "CIFAR10", ("labels",)
            files = [folder / f"data_batch_{i}" for i in range(1, 6)] if split == "train" else [folder / "test_batch"]
        found = [f for f in files if f.is_file()]
        if not found:
            if split != "train":
                return None
            raise TenasError(f"--data '{spec}' is a {kind} root without its training batches ({files[0].name}...).")
        batches = [_batch(f, label_names, 32, f"cannot read CIFAR data under '{spec}'") for f in found]
        data = np.concatenate([d for d, _ in batches])
        targets = np.concatenate([t for _, t in batches]).astype(np.int64)
        which = "training" if split == "train" else "test"
        return labelled(data, targets, dataset.resolution, f"{kind} {which} split at {spec}")


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
        return self._open([Path(spec) / "train_data_batch_1"], dataset, f"ImageNet16 at {spec}")

    def open_split(self, spec, dataset, split):
        """Training: every ``train_data_batch_N`` there is; test: ``val_data``, NAS-Bench-201's test set."""
        root = Path(spec)
        if split == "train":
            files = sorted(root.glob("train_data_batch_*"), key=lambda p: (len(p.name), p.name))
            return self._open(files, dataset, f"ImageNet16 training split at {spec} ({len(files)} files)")
        path = root / "val_data"
        return self._open([path], dataset, f"ImageNet16 validation data at {spec}") if path.is_file() else None

    def _open(self, files, dataset, description):
        from .images import labelled

        batches = [_batch(path, ("labels",), 16, f"cannot read ImageNet16 pickle '{path}'") for path in files]
        data = np.concatenate([d for d, _ in batches])
        labels = np.concatenate([t for _, t in batches])
        if dataset.num_classes == 120:
            keep = (labels >= 1) & (labels <= 120)
            data, labels = data[keep], labels[keep]
        targets = labels.astype(np.int64) - 1  # the pickles number classes from 1
        return labelled(data.copy(), targets, dataset.resolution, description)


class ImageFolderSource:
    """A directory of class sub-directories of images (torchvision ImageFolder layout), or a flat one."""

    name = "imagefolder"
    description = "a directory of images, ImageFolder layout (class sub-directories give labels) or flat"
    priority = 10

    def claims(self, spec):
        return Path(spec).is_dir()

    def open(self, spec, dataset):
        return _folder(Path(spec), dataset, spec)

    def open_split(self, spec, dataset, split):
        """A tree with ``train/`` holds its splits in ``train/`` and ``test/`` (or ``val/``); any other folder
        is all training images. Test classes are numbered as the training classes of the same name."""
        root = Path(spec)
        if not (root / "train").is_dir():
            return _folder(root, dataset, spec) if split == "train" else None
        if split == "train":
            return _folder(root / "train", dataset, spec)
        folder = next((root / name for name in ("test", "val") if (root / name).is_dir()), None)
        if folder is None:
            return None
        test, train = _folder(folder, dataset, spec), _folder(root / "train", dataset, spec)
        if test.targets is not None and train.classes is not None:
            unknown = sorted(set(test.classes) - set(train.classes))
            if unknown:
                raise TenasError(f"--data '{spec}': {folder.name}/ has classes that train/ lacks "
                                 f"({', '.join(unknown[:5])}); give both splits the same class folders.")
            number = {name: i for i, name in enumerate(train.classes)}
            test.targets = test.targets.new_tensor([number[test.classes[t]] for t in test.targets.tolist()])
            test.classes = train.classes
        return test


def _folder(root, dataset, spec):
    from .images import FileImages

    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    where = spec if root == Path(spec) else f"{spec}/{root.name}"
    return FileImages(files, dataset.resolution, f"{len(files)} image files under {where}", root)

