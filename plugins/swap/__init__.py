"""SWAP (Peng et al., ICLR 2024): the regularised sample-wise activation pattern score, as a tenas-kit proxy.

Written from the official code (pym1024/SWAP, commit f6049f7,
``src/metrics/swap.py``, ``src/utils/utilities.py`` and ``correlation.py``).

A batch of 16 unaugmented images goes through the network in train mode. Every
``nn.ReLU`` acting on a 4-D tensor contributes its output units; each unit's
pattern is the sign of its output across the 16 samples, and SWAP is the
number of distinct patterns among all units. It is averaged over 32 draws of
the weights from N(0, 1) (biases 0, BatchNorm scale 1 and shift 0), as the
reference's correlation script does, and multiplied by the regulariser

    exp(-(P - mu)^2 / sigma)

with P the parameters (in thousands, the reference's unit) of the modules that
run. The paper tunes mu and sigma per space; they are not in its code, and we
did not find their NAS-Bench-201 values. By default mu is the parameter count
of the space's network with every op on every edge (the largest network the
space can build at that role) and sigma = mu^2, so the factor falls from 1 for
the largest cells to 1/e for an empty one; ``--swap-mu`` and ``--swap-sigma``
set them, and ``--swap-sigma inf`` turns the regulariser off.

The reference's correlation script scores DARTS networks of a single
reduction cell (``Network(3, 10, 1, genotype)``: no stem, the 3-channel image
in, 6 channels per op). tenas-kit's NB201 search supernet (``supernet``: C=3,
one cell per stage) is the nearest scale this space builds, and is this
proxy's default network. On the C=16, N=5 networks the pattern count
saturates towards 2^16.
"""

from __future__ import annotations

import math

import click
import numpy as np

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import ZERO_COST_OPTIONS, network_role
from tenas_kit.seeds import derive

# torch is imported inside the functions: plugins are imported while the CLI starts.

DEFAULT_NETWORK = "supernet"
SAMPLES, REPEATS = 16, 32

OPTIONS = [
    click.Option(["--swap-mu"], type=float, default=None,
                 help="SWAP regulariser centre, thousands of parameters (default: the space's network with every op)."),
    click.Option(["--swap-sigma"], type=float, default=None,
                 help="SWAP regulariser width, exp(-(P - mu)^2 / sigma) (default mu^2; inf: no regulariser)."),
]


def distinct_patterns(network, inputs):
    """Distinct sign patterns across the samples among the units of every ReLU on a 4-D tensor."""
    import torch
    import torch.nn as nn

    n = len(inputs)
    units = []

    def hook(module, args, output):
        if args[0].dim() == 4:
            units.append((output > 0).reshape(n, -1))

    handles = [m.register_forward_hook(hook) for m in network.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    if not units:
        return 0
    # A unit's pattern as one integer: bit i is sample i.
    bits = torch.cat(units, 1).T.long()
    codes = (bits << torch.arange(n, device=bits.device)).sum(1)
    return int(torch.unique(codes).numel())


def regulariser(parameters_k, mu, sigma):
    return math.exp(-((parameters_k - mu) ** 2) / sigma)


def swap(network, inputs, generator, repeats=REPEATS):
    """Mean distinct-pattern count over ``repeats`` N(0, 1) redraws of the weights (drawn from ``generator``)."""
    from tenas_kit.nn.init import gaussian

    counts = []
    for _ in range(repeats):
        gaussian(network, generator)
        counts.append(distinct_patterns(network, inputs))
    return float(np.mean(counts))


class SWAP:
    name = "swap"
    description = "SWAP: distinct ReLU sign patterns across 16 images, times a parameter-count regulariser (higher is better)"
    higher_is_better = True
    cli_options = [*ZERO_COST_OPTIONS, *OPTIONS]

    def settings(self, options, space_defaults):
        mu, sigma = options.get("swap_mu"), options.get("swap_sigma")
        return {
            "samples": SAMPLES,  # the reference's batch; --proxy-batch-size does not apply
            "repeats": REPEATS,
            "init": "gaussian",
            "augmented": False,
            "network": network_role(options, space_defaults, DEFAULT_NETWORK),
            "mu": "full-network" if mu is None else mu,
            "sigma": "mu^2" if sigma is None else sigma,
        }

    def prepare(self, ctx):
        import torch

        from tenas_kit.nn.init import own_draws
        from tenaskit_builtins.params import used_parameters

        s = ctx.settings
        network = ctx.network(s["network"])
        inputs = ctx.batch(SAMPLES, augmented=False)
        if s["mu"] == "full-network":
            with own_draws(0):  # only its size is read; PyTorch's global generator stays untouched
                full = ctx.space.network(ctx.space.layout.full_mask(), s["network"], ctx.dataset.num_classes)
            mu = sum(p.numel() for p in full.parameters()) / 1e3
        else:
            mu = float(s["mu"])
        sigma = mu**2 if s["sigma"] == "mu^2" else float(s["sigma"])

        def score(mask):
            network.mask = mask
            factor = 1.0 if math.isinf(sigma) else regulariser(used_parameters(network, inputs) / 1e3, mu, sigma)
            # Reseeded per call: every mask sees the same weight draws.
            generator = torch.Generator(device=ctx.device).manual_seed(
                derive(ctx.seed, ctx.proxy, "gaussian", ctx.round, ctx.repeat))
            return swap(network, inputs, generator, s["repeats"]) * factor

        return score


@hookimpl
def register_proxies(register):
    register(SWAP())
