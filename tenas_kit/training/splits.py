"""The images a training run reads: a training split and an evaluation split, with their labels.

The evaluation split is the data's test split (CIFAR's test batch, ImageNet16's
``val_data``, an ImageFolder tree's ``test/``) unless the data has none or
``holdout`` asks for held-out images: then a share of every class of the
training images is held out. Which images are held out, and which ``subset``
trains, depends on the images alone, never on the run's seed, so runs of other
seeds and cells are measured on the same images.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from tenas_kit import data as datamod
from tenas_kit.errors import TenasError
from tenas_kit.seeds import numpy_rng

HOLDOUT = 0.1  # share of the training images held out when the data has no test split
CHUNK = 1024  # images decoded per task: file sources decode in threads


@dataclass
class Split:
    """Indices into an image source, with their labels; ``pixels()`` decodes them."""

    images: object  # an ImageSource
    indices: np.ndarray
    labels: object  # int64 tensor, one per index

    def __len__(self):
        return len(self.indices)

    def pixels(self):
        """uint8 tensor (n, 3, R, R) of the split's images, decoded once (file sources in threads)."""
        import torch

        chunks = np.array_split(self.indices, max(1, -(-len(self.indices) // CHUNK)))
        if len(chunks) == 1:
            return self.images.load(self.indices)
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            return torch.cat(list(pool.map(self.images.load, chunks)))


@dataclass
class Splits:
    train: Split
    evaluation: Split
    held_out: bool  # the evaluation images are held out of the training split
    description: str
    fingerprint: str  # of the images both splits are drawn from
    classes: list | None  # class names, where the data names its classes


def open_splits(registry, spec, dataset, holdout=None, subset=None):
    """The splits of ``--data spec`` for ``dataset`` (a preset); ``holdout``: evaluate on that share of the
    training images even where a test split exists; ``subset``: train on that many of the training images."""
    train = datamod.open_split(registry, spec, dataset, "train")
    if train is None or len(train) == 0:
        raise TenasError(f"--data '{spec}' holds no training images; point it at a directory with images.")
    every = np.arange(len(train))
    labels = _labels(train, every, dataset, spec)
    test = None if holdout else datamod.open_split(registry, spec, dataset, "test")
    if test is not None and len(test):
        test_indices = np.arange(len(test))
        evaluation = Split(test, test_indices, _labels(test, test_indices, dataset, spec))
        kept = every
    else:
        kept, held = held_out(labels.numpy(), holdout or HOLDOUT, spec)
        evaluation = Split(train, held, labels[held])
    if subset is not None:
        if subset > len(kept):
            raise TenasError(f"--subset {subset}: '{spec}' has {len(kept)} training images to draw from; give "
                             f"--subset {len(kept)} or fewer.")
        kept = np.sort(numpy_rng("subset").permutation(kept)[:subset])
    fingerprints = [datamod.fingerprint(train)] + ([datamod.fingerprint(test)] if evaluation.images is test else [])
    description = train.description + (f"; tested on {test.description}" if evaluation.images is test else "")
    return Splits(Split(train, kept, labels[kept]), evaluation, evaluation.images is train, description,
                  "+".join(fingerprints), getattr(train, "classes", None))


def _labels(images, indices, dataset, spec):
    labels = datamod.source_labels(images, indices, dataset)
    if labels is None:
        raise TenasError(f"--data '{spec}' has no class labels ({images.description}); training needs labelled "
                         f"images: a folder of class folders (train/ and test/ in it, or held out), a CIFAR root "
                         f"or ImageNet16 pickles.")
    return labels


def held_out(labels, share, spec):
    """``(kept, held)`` indices: ``share`` of every class held out, drawn with a seed of its own."""
    rng = numpy_rng("held-out")
    kept, held = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = int(round(share * len(members)))
        held.append(members[:count])
        kept.append(members[count:])
    kept, held = np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))
    if len(held) == 0 or len(kept) == 0:
        raise TenasError(f"--data '{spec}': holding out {share:g} of its {len(labels)} images leaves "
                         f"{len(kept)} to train on and {len(held)} to test on; give more images or another "
                         f"--holdout, or a test split (a test/ folder beside train/).")
    return kept, held
