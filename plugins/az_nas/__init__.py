"""AZ-NAS (Lee and Ham, CVPR 2024): its four indicators as four tenas-kit proxies.

Written from the authors' NB201 code (cvlab-yonsei/AZ-NAS, commit 5e6683a,
``NB201/ZeroShotProxy/compute_az_nas_score.py`` and ``NB201/tss_general.ipynb``).
The features are the outputs of the stem and of every cell and reduction block
(the space's network must expose ``stem`` and ``layers`` or ``cells``), for a
batch of Gaussian inputs through a network with Kaiming-normal (fan-in)
weights in train mode:

- ``az_expressivity``: per feature, the entropy of the normalised eigenvalues
  of the channel covariance over every (sample, pixel) position; summed over
  features.
- ``az_progressivity``: the least increase of that entropy from one feature to
  the next.
- ``az_trainability``: per pair of consecutive features, s the largest singular
  value of the mean outer product of the Rademacher cotangent at the later
  feature and its vector-Jacobian product at the earlier one (pixel-unshuffled
  where the resolution halves); score -s - 1/(s + 1e-6) + 2, averaged over
  pairs. A cell that passes the cotangent through unchanged scores -inf.
- ``az_complexity``: the FLOPs of the network (the paper reads them from the
  benchmark's table; here they are counted, as the ``flops`` proxy does).

AZ-NAS combines the four by the sum of the logs of their ranks; that rule
belongs to presets. A NaN indicator becomes -inf, as in the reference.

The first three come from one forward pass and one backward sweep, so they
share their network, input and cotangent draws (seeded under one name, not per
proxy) and, within a process, the computation itself.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tenas_kit.errors import TenasError
from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import ZERO_COST_OPTIONS, network_role
from tenas_kit.recent import Recent
from tenas_kit.seeds import derive
from tenaskit_builtins.flops import FlopCount

# torch is imported inside the functions: plugins are imported while the CLI starts.

SHARED = "az_nas"  # the name the three data-based indicators seed their network, input and draws under
DEFAULT_NETWORK = "evaluation"  # the paper scores the C=16, N=5 NAS-Bench-201 networks
KEEP = 8  # indicator sets cached per process: enough for one cell's proxies, not a whole ranking
_cache = Recent(KEEP)


def feature_modules(network):
    """The stem and every cell or block, in order: the modules whose outputs AZ-NAS reads."""
    stem = getattr(network, "stem", None)
    body = getattr(network, "layers", None)
    if body is None:
        body = getattr(network, "cells", None)
    if stem is None or body is None:
        raise TenasError(f"the AZ-NAS proxies read the outputs of a network's 'stem' and 'layers' (or 'cells'); "
                         f"{type(network).__name__} has no such modules.")
    return [stem, *body]


def cell_features(network, inputs):
    """Outputs of the stem and of every cell or block for ``inputs``, still part of the autograd graph."""
    captured = []
    handles = [m.register_forward_hook(lambda module, args, output: captured.append(output))
               for m in feature_modules(network)]
    try:
        network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def spectral_entropy(feature):
    """Entropy of the normalised eigenvalues of the channel covariance over all other positions."""
    import torch

    x = feature.detach().transpose(0, 1).reshape(feature.shape[1], -1).T
    x = x - x.mean(0, keepdim=True)
    s = torch.linalg.eigvalsh(x.T @ x / x.shape[0])
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def expressivity_and_progressivity(features):
    scores = np.array([spectral_entropy(f) for f in features])
    return float(np.sum(scores)), float(np.min(np.diff(scores)))


def rademacher(generator):
    """``draw(like)``: a tensor of random signs shaped like ``like``, from ``generator``."""
    import torch

    return lambda like: torch.bernoulli(torch.full_like(like, 0.5), generator=generator) * 2 - 1


def trainability(features, draw):
    """Mean over consecutive feature pairs, last pair first (the order the reference draws its signs in);
    ``draw(f_out)`` gives the random signs sent back from each later feature."""
    import torch
    import torch.nn.functional as F

    scores = []
    for i in reversed(range(1, len(features))):
        f_out, f_in = features[i], features[i - 1]
        signs = draw(f_out)
        if f_out.requires_grad and f_in.requires_grad:
            # retain_graph: a cell may also read features older than its predecessor (DARTS).
            (g_in,) = torch.autograd.grad(f_out, f_in, signs, retain_graph=True, allow_unused=True,
                                          materialize_grads=True)
        else:  # the later feature does not depend on the earlier one at all
            g_in = torch.zeros_like(f_in)
        if g_in.shape == signs.shape and torch.equal(g_in, signs):
            scores.append(-np.inf)
            continue
        if g_in.shape[2:] != signs.shape[2:]:
            g_in = F.pixel_unshuffle(g_in, g_in.shape[2] // signs.shape[2])
        n, c_out = signs.shape[0] * signs.shape[2] * signs.shape[3], signs.shape[1]
        rows_out = signs.permute(0, 2, 3, 1).reshape(n, c_out)
        rows_in = g_in.permute(0, 2, 3, 1).reshape(n, g_in.shape[1])
        s = float(torch.linalg.svdvals(rows_in.T @ rows_out / n).max())
        scores.append(-s - 1 / (s + 1e-6) + 2)
    return float(np.mean(scores))


def indicators(network, inputs, draw):
    """``{'expressivity', 'progressivity', 'trainability'}`` of ``network`` on ``inputs``; NaN becomes -inf."""
    features = cell_features(network, inputs)
    expressivity, progressivity = expressivity_and_progressivity(features)
    values = {"expressivity": expressivity, "progressivity": progressivity,
              "trainability": trainability(features, draw)}
    return {k: (-np.inf if np.isnan(v) else v) for k, v in values.items()}


class _Indicator:
    """One AZ-NAS indicator; the three of one forward and backward pass share their work."""

    higher_is_better = True
    cli_options = ZERO_COST_OPTIONS
    key = ""

    def settings(self, options, space_defaults):
        return {
            "batch_size": int(options.get("proxy_batch_size") or 64),
            "init": "kaiming_fan_in",  # AZ-NAS initialises every network so before scoring: part of the score
            "input": "gaussian",  # the NB201 code draws N(0, 1) inputs for AZ-NAS, not images
            "network": network_role(options, space_defaults, DEFAULT_NETWORK),
            "bn": "train",
        }

    def prepare(self, ctx):
        import torch

        from tenas_kit.nn.init import kaiming

        shared = dataclasses.replace(ctx, proxy=SHARED)
        s = ctx.settings
        base = (ctx.space.name, ctx.dataset.name, ctx.dataset.resolution, ctx.dataset.num_classes, str(ctx.device),
                ctx.seed, ctx.data_seed, ctx.round, ctx.repeat, ctx.mask.tobytes(), tuple(sorted(s.items())))
        built = {}

        def build():
            if not built:
                network = shared.network(s["network"])
                seed = derive(ctx.seed, SHARED, "kaiming", ctx.round, ctx.repeat)
                kaiming(network, "fan_in", torch.Generator(device=ctx.device).manual_seed(seed))
                shape = (s["batch_size"], 3, ctx.dataset.resolution, ctx.dataset.resolution)
                inputs = torch.from_numpy(shared.rng("gaussian").standard_normal(shape, dtype=np.float32))
                built.update(network=network, inputs=inputs.to(ctx.device))
            return built["network"], built["inputs"]

        def measure(mask):
            network, inputs = build()
            network.mask = mask
            # The same sign draws for every mask: a score is a function of the mask alone.
            generator = torch.Generator(device=ctx.device).manual_seed(
                derive(ctx.seed, SHARED, "signs", ctx.round, ctx.repeat))
            return indicators(network, inputs, rademacher(generator))

        def score(mask):
            key = (*base, np.asarray(mask).tobytes())
            return _cache.get_or_make(key, lambda: measure(mask))[self.key]

        return score


class Expressivity(_Indicator):
    name = "az_expressivity"
    key = "expressivity"
    description = "AZ-NAS expressivity: summed spectral entropy of the cell features' channel covariance (higher is better)"


class Progressivity(_Indicator):
    name = "az_progressivity"
    key = "progressivity"
    description = "AZ-NAS progressivity: least growth of that entropy from one cell to the next (higher is better)"


class Trainability(_Indicator):
    name = "az_trainability"
    key = "trainability"
    description = "AZ-NAS trainability: closeness to 1 of the cells' largest Jacobian singular value (higher is better)"


class Complexity(FlopCount):
    """AZ-NAS's complexity indicator is the FLOPs count: the flops proxy under AZ-NAS's name, so that an
    AZ-NAS preset lists all four of its indicators."""

    name = "az_complexity"
    description = "AZ-NAS complexity: FLOPs (multiply-adds) of one image through the network (higher is better)"

    def settings(self, options, space_defaults):
        return {**super().settings(options, space_defaults), "network": network_role(options, space_defaults, DEFAULT_NETWORK)}  # AZ-NAS's network


@hookimpl
def register_proxies(register):
    for proxy in (Expressivity(), Progressivity(), Trainability(), Complexity()):
        register(proxy)
