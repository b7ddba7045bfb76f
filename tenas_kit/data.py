"""Images for the proxies: dataset presets, image sources, and batch sampling.

A data source opens a user's ``--data`` argument as an ImageSource: a sized
collection of uint8 images (3 x R x R) at the dataset's resolution. Sources
that know class labels may also offer ``labels(indices)``; only label-based
proxies (grad_norm, snip) ask for them. Sampling applies the reference
training augmentation (random flip, random crop after zero padding) and the
dataset's normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from tenas_kit.contract import optional
from tenas_kit.errors import TenasError

# torch is imported where images are handled: data plugins import Dataset while the CLI starts.
if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Dataset:
    """Normalisation, class count and search resolution of a data set."""

    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    num_classes: int
    resolution: int
    crop_padding: int
    description: str = ""


class ImageSource(Protocol):
    """What ``DataSource.open`` returns: the images of one ``--data`` value at the dataset's resolution."""

    description: str
    # A hash of the content (pixels or files, and labels): it names the images in score keys and jobs, so any
    # changed image must change it. Empty: the description stands in.
    fingerprint: str = ""

    def __len__(self) -> int: ...

    def load(self, indices: np.ndarray) -> torch.Tensor:
        """uint8 tensor (n, 3, R, R) of the images at ``indices``."""

    @optional
    def labels(self, indices: np.ndarray) -> torch.Tensor | None:
        """Class indices (0 .. num_classes-1) of the images at ``indices``, or None when this source does not
        know them (e.g. a flat folder)."""


class DataSource(Protocol):
    """An image source (``register_data_sources``), checked when its plugin loads (``tenas_kit.contract``)."""

    name: str
    description: str
    priority: int = 0  # higher claims first when several sources accept one --data value

    def claims(self, spec: str) -> bool:
        """True when ``--data spec`` is something this source opens."""

    def open(self, spec: str, dataset: Dataset) -> ImageSource: ...

    @optional
    def open_split(self, spec: str, dataset: Dataset, split: str) -> ImageSource | None:
        """The images of ``split``, ``"train"`` or ``"test"``, for ``tenaskit train``; None when the data holds no
        such split (the trainer then holds some training images out). Without it, ``open`` gives the training
        images and there is no test split."""


def find_source(registry, spec):
    """``(source, its argument)`` for ``--data spec``: ``name:arg`` picks a source by name, otherwise the first
    that claims it."""
    sources = sorted(registry.all("data_source"), key=lambda s: -getattr(s, "priority", 0))
    name, sep, arg = spec.partition(":")
    if sep and name in registry.names("data_source") and len(name) > 1:
        return registry.get("data_source", name), arg
    source = next((s for s in sources if s.claims(spec)), None)
    if source is None:
        names = ", ".join(s.name for s in sources)
        raise TenasError(
            f"no data source understands --data '{spec}': give an existing image directory "
            f"(ImageFolder, CIFAR root, ImageNet16 pickles) or one of: {names}."
        )
    return source, spec


def open_split(registry, spec, dataset, split):
    """The ``split`` (``"train"`` or ``"test"``) of ``--data spec``, or None where the data has no such split."""
    source, spec = find_source(registry, spec)
    if hasattr(source, "open_split"):
        return source.open_split(spec, dataset, split)
    return source.open(spec, dataset) if split == "train" else None


def open_images(registry, spec, dataset):
    """Open ``--data``: ``name:arg`` picks a source by name, otherwise the first that claims it."""
    source, spec = find_source(registry, spec)
    images = source.open(spec, dataset)
    if len(images) == 0:
        raise TenasError(f"--data '{spec}' holds no images; point it at a directory with image files.")
    return images


def sample_indices(count, n, generator):
    return generator.choice(count, size=n, replace=n > count)


def augment(images, padding, generator):
    """Random horizontal flip and random crop after zero padding (uint8 in, uint8 out)."""
    import torch

    n, _, h, w = images.shape
    flips = torch.from_numpy(generator.random(n) < 0.5)
    images = torch.where(flips[:, None, None, None], images.flip(-1), images)
    if padding == 0:
        return images
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    dy = generator.integers(0, 2 * padding + 1, size=n)
    dx = generator.integers(0, 2 * padding + 1, size=n)
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def normalise(images, dataset):
    import torch

    mean = torch.tensor(dataset.mean).view(1, 3, 1, 1)
    std = torch.tensor(dataset.std).view(1, 3, 1, 1)
    # In place on the fresh float copy: the same operations in the same order, without two more allocations.
    return images.float().div_(255.0).sub_(mean).div_(std)


def sample_batch(images, dataset, n, generator, augmented=True):
    """A normalised float batch of ``n`` images drawn with ``generator`` (numpy)."""
    return _finish(images.load(sample_indices(len(images), n, generator)), dataset, generator, augmented)


def sample_labelled(images, dataset, n, generator, augmented=True):
    """``(batch, labels)``: the batch ``sample_batch`` draws with an identically seeded generator,
    and the images' class labels (LongTensor), or None when the source knows none."""
    indices = sample_indices(len(images), n, generator)
    batch = _finish(images.load(indices), dataset, generator, augmented)
    return batch, source_labels(images, indices, dataset)


def source_labels(images, indices, dataset):
    """The source's labels for ``indices``, checked against the dataset's class count; None if unknown."""
    read = getattr(images, "labels", None)
    labels = read(indices) if callable(read) else None
    if labels is None:
        return None
    import torch

    labels = torch.as_tensor(labels, dtype=torch.long)
    if len(labels) and (labels.min() < 0 or labels.max() >= dataset.num_classes):
        # A loss against out-of-range targets fails deep inside PyTorch; say what to change instead.
        raise TenasError(
            f"the images' class labels reach {int(labels.max())}, but --dataset {dataset.name} has "
            f"{dataset.num_classes} classes; pick the --dataset preset that matches --data."
        )
    return labels


def _finish(batch, dataset, generator, augmented):
    # Indices are drawn before augmentation, so batch and labelled batches consume the generator alike.
    if augmented:
        batch = augment(batch, dataset.crop_padding, generator)
    return normalise(batch, dataset)


def fingerprint(images):
    return getattr(images, "fingerprint", None) or images.description
