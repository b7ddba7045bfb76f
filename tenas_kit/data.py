"""Images for the proxies: dataset presets, image sources, and batch sampling.

A data source opens a user's ``--data`` argument as an ImageSource: a sized
collection of uint8 images (3 x R x R) at the dataset's resolution. Labels are
never used. Sampling applies the reference training augmentation (random
flip, random crop after zero padding) and the dataset's normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from .errors import TenasError


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
    description: str
    # Optional ``fingerprint``: a string that changes when the images change (score cache keys).

    def __len__(self) -> int: ...

    def load(self, indices: np.ndarray) -> torch.Tensor:
        """uint8 tensor (n, 3, R, R) of the images at ``indices``."""


@runtime_checkable
class DataSource(Protocol):
    name: str
    description: str
    priority: int  # higher claims first when several sources accept one --data value

    def claims(self, spec: str) -> bool:
        """True when ``--data spec`` is something this source opens."""

    def open(self, spec: str, dataset: Dataset) -> ImageSource: ...


def open_images(registry, spec, dataset):
    """Open ``--data``: ``name:arg`` picks a source by name, otherwise the first that claims it."""
    sources = sorted(registry.all("data_source"), key=lambda s: -getattr(s, "priority", 0))
    name, sep, arg = spec.partition(":")
    if sep and name in registry.names("data_source") and len(name) > 1:
        source, spec = registry.get("data_source", name), arg
    else:
        source = next((s for s in sources if s.claims(spec)), None)
    if source is None:
        names = ", ".join(s.name for s in sources)
        raise TenasError(
            f"no data source understands --data '{spec}': give an existing image directory "
            f"(ImageFolder, CIFAR root, ImageNet16 pickles) or one of: {names}."
        )
    images = source.open(spec, dataset)
    if len(images) == 0:
        raise TenasError(f"--data '{spec}' holds no images; point it at a directory with image files.")
    return images


def sample_indices(count, n, generator):
    return generator.choice(count, size=n, replace=n > count)


def augment(images, padding, generator):
    """Random horizontal flip and random crop after zero padding (uint8 in, uint8 out)."""
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
    mean = torch.tensor(dataset.mean).view(1, 3, 1, 1)
    std = torch.tensor(dataset.std).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def sample_batch(images, dataset, n, generator, augmented=True):
    """A normalised float batch of ``n`` images drawn with ``generator`` (numpy)."""
    batch = images.load(sample_indices(len(images), n, generator))
    if augmented:
        batch = augment(batch, dataset.crop_padding, generator)
    return normalise(batch, dataset)


def fingerprint(images):
    return getattr(images, "fingerprint", None) or images.description
