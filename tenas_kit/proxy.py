"""The proxy contract and the context a proxy is prepared with.

A proxy is prepared once per round and repeat: it draws its data and weights
from the context, and returns a scorer that maps any op mask (the round's
supernet mask or a candidate's) to a number, with weights and data shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

import click
import numpy as np

from tenas_kit import data as datamod
from tenas_kit.recent import Recent
from tenas_kit.seeds import derive, numpy_rng

# Proxy plugins subclass BatchProxy at import, which the CLI does while it starts: torch and the
# initialisation schemes are imported only once a proxy is prepared.
if TYPE_CHECKING:
    import torch


@dataclass
class ProxyContext:
    space: Any
    mask: np.ndarray  # the round's supernet; scorers accept any subset of it
    dataset: datamod.Dataset
    images: datamod.ImageSource
    device: torch.device
    options: dict
    seed: int
    round: int
    repeat: int
    proxy: str = ""
    settings: dict = field(default_factory=dict)  # this proxy's resolved settings
    data_seed: int | None = None  # batches' seed when it differs from the weights' (ranking: shared data)

    def option(self, name, default=None):
        value = self.options.get(name)
        return default if value is None else value

    def rng(self, stream):
        """numpy Generator for data: this proxy, round, repeat and named stream."""
        seed = self.seed if self.data_seed is None else self.data_seed
        return numpy_rng(seed, self.proxy, stream, self.round, self.repeat)

    def network(self, role, fan_mode="fan_in", in_channels=3):
        """The space's network for the round's mask, initialised per ``--init``, on the device, train mode."""
        from tenas_kit.nn import init as initmod

        scheme = self.option("init", "pytorch")
        repeat = self.repeat if initmod.redraws_per_repeat(scheme) else 0
        seed = derive(self.seed, self.proxy, "weights", role, self.round, repeat)
        net = initmod.build(
            lambda: self.space.network(self.mask, role, self.dataset.num_classes, in_channels), seed, scheme, fan_mode
        )
        return net.to(self.device).train()

    def batch(self, n, stream="batch", augmented=True):
        seed = self.seed if self.data_seed is None else self.data_seed
        key = (id(self.images), self.dataset.name, seed, self.proxy, stream, self.round, self.repeat, n, augmented)
        batch = _batches.get_or_make(
            key, lambda: datamod.sample_batch(self.images, self.dataset, n, self.rng(stream), augmented))
        return batch.to(self.device)

    def labelled_batch(self, n, stream="batch", augmented=True):
        """``(images, labels)``: the images ``batch(n, stream, augmented)`` draws, and their class
        labels (LongTensor). Sources without labels (embedded, synthetic, flat folders) get labels
        drawn uniformly from ``dataset.num_classes`` with ``rng(stream + '-labels')``."""
        seed = self.seed if self.data_seed is None else self.data_seed
        key = ("labelled", id(self.images), self.dataset.name, seed, self.proxy, stream, self.round, self.repeat, n, augmented)

        def draw():
            images, labels = datamod.sample_labelled(self.images, self.dataset, n, self.rng(stream), augmented)
            if labels is None:
                import torch

                labels = torch.from_numpy(self.rng(stream + "-labels").integers(0, self.dataset.num_classes, size=n))
            return images, labels.long()

        images, labels = _batches.get_or_make(key, draw)
        return images.to(self.device), labels.to(self.device)


# Recently drawn batches: when many architectures share data (ranking), each batch is drawn once.
KEEP_BATCHES = 12
_batches = Recent(KEEP_BATCHES)


class Proxy(Protocol):
    """A training-free proxy (``register_proxies``), checked when its plugin loads (``tenas_kit.contract``)."""

    name: str
    description: str
    higher_is_better: bool
    cli_options: list = ()  # click.Option list, added to run and rank; only this proxy reads their values

    def settings(self, options: dict, space_defaults: dict) -> dict:
        """Every setting that changes this proxy's number (recorded, and part of cache keys). ``options`` holds
        the values of this proxy's own ``cli_options`` (None when not given) and ``init``."""

    def prepare(self, ctx: ProxyContext) -> Callable[[np.ndarray], float]:
        """A scorer for the round's masks; see ProxyContext for the weights and data it may draw."""


def network_role(options, space_defaults, default="supernet"):
    """Which of the space's networks a zero-cost proxy scores: ``--proxy-network``; else the space's
    ``proxy_network`` default, where only that role holds what a search measures (DARTS's evaluation
    network is built from one genotype, not a supernet); else the proxy's own default."""
    return options.get("proxy_network") or space_defaults.get("proxy_network") or default


# Options shared by the zero-cost proxies; a plugin lists them in its ``cli_options`` (the CLI adds each once).
ZERO_COST_OPTIONS = [
    click.Option(
        ["--proxy-network"], default=None,
        help="Network the zero-cost proxies score: 'supernet' (default; the space's small search network) "
        "or 'evaluation' (the full network the space's benchmark trains), or another role of the space.",
    ),
    click.Option(
        ["--proxy-batch-size"], type=click.IntRange(min=1), default=None,
        help="Images per batch for the zero-cost proxies that read images (default 64).",
    ),
]


class BatchProxy:
    """Base for proxies that score a network on one batch of images.

    A subclass sets ``name``, ``description``, ``higher_is_better`` (and
    ``labelled = True`` to receive ``(images, labels)``) and implements
    ``measure(network, batch) -> float``.
    """

    labelled = False
    cli_options = ZERO_COST_OPTIONS

    def settings(self, options, space_defaults):
        return {
            "batch_size": int(options.get("proxy_batch_size") or 64),
            "init": options.get("init") or "pytorch",
            "network": network_role(options, space_defaults),
        }

    def prepare(self, ctx):
        network = ctx.network(ctx.settings["network"])
        size = ctx.settings["batch_size"]
        batch = ctx.labelled_batch(size) if self.labelled else ctx.batch(size)

        def score(mask):
            network.mask = mask
            return self.measure(network, batch)

        return score
