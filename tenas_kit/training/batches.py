"""Training batches, assembled on the device from images decoded once.

A split's uint8 pixels stay on the device (on a GPU when they fit in a quarter
of its free memory, pinned host memory otherwise), so a step waits neither for
decoding nor for a copy: a batch is an index, a crop and flip, a
normalisation and a cutout, all tensor operations on the device.

Every draw comes from a generator seeded with the run seed, the epoch and the
step (``tenas_kit.seeds``): the order of an epoch, each step's crops, flips and
cutouts. A run resumed at any step draws exactly what an unbroken run draws.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tenas_kit.seeds import numpy_rng

DEVICE_SHARE = 0.25  # of a GPU's free memory a split's pixels may take; beyond, they stay in pinned host memory


def crop_flip(images, padding, rng):
    """Random horizontal flip, then a random crop after zero padding, of a uint8 batch on any device. Draws
    what ``tenas_kit.data.augment`` draws, in its order, and gives the same images, without its loop."""
    n, c, h, w = images.shape
    device = images.device
    flips = torch.from_numpy(rng.random(n) < 0.5).to(device)
    images = torch.where(flips[:, None, None, None], images.flip(-1), images)
    if padding == 0:
        return images
    dy = torch.from_numpy(rng.integers(0, 2 * padding + 1, size=n)).to(device)
    dx = torch.from_numpy(rng.integers(0, 2 * padding + 1, size=n)).to(device)
    padded = F.pad(images, (padding,) * 4)
    rows = dy[:, None] + torch.arange(h, device=device)
    cols = dx[:, None] + torch.arange(w, device=device)
    batch = torch.arange(n, device=device)[:, None, None, None]
    channel = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def cutout(images, length, rng):
    """DARTS's Cutout on a normalised batch: a ``length`` square centred at a uniformly drawn pixel, clipped to
    the image, set to 0."""
    n, _, h, w = images.shape
    device = images.device
    ys = torch.from_numpy(rng.integers(0, h, size=n)).to(device)
    xs = torch.from_numpy(rng.integers(0, w, size=n)).to(device)
    half = length // 2
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    inside_y = (rows >= (ys - half).clamp(0, h)[:, None]) & (rows < (ys + half).clamp(0, h)[:, None])
    inside_x = (cols >= (xs - half).clamp(0, w)[:, None]) & (cols < (xs + half).clamp(0, w)[:, None])
    return images.masked_fill((inside_y[:, :, None] & inside_x[:, None, :])[:, None], 0.0)


def place(pixels, device):
    """Where a split's pixels are kept: on the device when it is a GPU they fit on, else pinned on the host."""
    if device.type != "cuda":
        return pixels
    free, _ = torch.cuda.mem_get_info(device)
    if pixels.numel() * pixels.element_size() <= DEVICE_SHARE * free:
        return pixels.to(device)
    return pixels.pin_memory()


class Batches:
    """One split's batches for a run: ``batch(epoch, step)`` for training, ``sequential()`` for evaluation."""

    def __init__(self, pixels, labels, dataset, batch_size, seed, device, cutout_length=0):
        self.pixels, self.labels = place(pixels, device), labels.to(device)
        self.dataset, self.batch_size, self.seed, self.device = dataset, batch_size, seed, device
        self.cutout_length = cutout_length
        self.mean = torch.tensor(dataset.mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(dataset.std, device=device).view(1, 3, 1, 1)
        self.channels_last = device.type == "cuda"
        self._orders = {}

    def __len__(self):
        return len(self.labels)

    def steps(self):
        """Steps per epoch: every image once; a last batch of one image is left out (BatchNorm needs two)."""
        full, rest = divmod(len(self), self.batch_size)
        return full + (rest > 1)

    def order(self, epoch):
        if epoch not in self._orders:
            self._orders = {epoch: numpy_rng(self.seed, "train-order", epoch).permutation(len(self))}
        return self._orders[epoch]

    def batch(self, epoch, step):
        """The augmented, normalised images of ``step`` of ``epoch``, and their labels."""
        chosen = self.order(epoch)[step * self.batch_size:(step + 1) * self.batch_size]
        rng = numpy_rng(self.seed, "augment", epoch, step)
        images = crop_flip(self._take(chosen), self.dataset.crop_padding, rng)
        images = self._normalise(images)
        if self.cutout_length:
            images = cutout(images, self.cutout_length, rng)
        return self._layout(images), self.labels[torch.from_numpy(chosen).to(self.device)]

    def sequential(self, size):
        """``(images, labels)`` in order, ``size`` at a time, unaugmented (evaluation)."""
        for start in range(0, len(self), size):
            chosen = np.arange(start, min(start + size, len(self)))
            yield self._layout(self._normalise(self._take(chosen))), self.labels[start:start + size]

    def _take(self, chosen):
        index = torch.from_numpy(chosen)
        if self.pixels.device == self.device:
            return self.pixels[index.to(self.device)]
        return self.pixels[index].pin_memory().to(self.device, non_blocking=True)

    def _normalise(self, images):
        return images.float().div_(255.0).sub_(self.mean).div_(self.std)

    def _layout(self, images):
        # Convolutions under mixed precision run on a GPU's tensor cores in channels-last layout.
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images
