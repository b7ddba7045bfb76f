"""Zen-score (Lin et al., Zen-NAS, ICCV 2021) as a tenas-kit proxy.

Data-free. With Gaussian inputs x and eps (batch x 3 x R x R) and
x' = x + gamma * eps (gamma = 0.01), f the feature map before global pooling
(the input of the network's last ``nn.AdaptiveAvgPool2d``; the logits when it
has none):

    score = log(mean over samples of sum over features |f(x) - f(x')|)
            + sum over BatchNorm layers of log(sqrt(mean over channels of var))

as the Zen-NAS code computes it (sum, not mean, over features; no division by
gamma: both differ from a per-element finite difference by a constant, so
ranks are the same). The reference reads BatchNorm's ``running_var``; here
each BatchNorm's per-channel (unbiased) variance of its input in the
train-mode forward of x is used directly, which is what the running variance
holds after one forward with momentum 1. Weights follow ``--init``; Zen-NAS
redraws conv/linear weights from N(0, 1), which the BatchNorm term largely
compensates, so it is not repeated here.
"""

import numpy as np
import torch
import torch.nn as nn

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import ZERO_COST_OPTIONS, network_role


def last_pool(network):
    pools = [m for m in network.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    return pools[-1] if pools else None


def features(network, inputs):
    """(pre-pooling features, [per-BatchNorm mean channel variance]) of one forward pass."""
    captured, variances, handles = [], [], []
    pool = last_pool(network)
    if pool is not None:
        handles.append(pool.register_forward_pre_hook(lambda module, args: captured.append(args[0])))
    for m in network.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            # Per-channel variance over every other axis of the BatchNorm's input, then the channel mean.
            handles.append(m.register_forward_pre_hook(
                lambda module, args: variances.append(args[0].transpose(0, 1).flatten(1).var(1).mean())
            ))
    try:
        output = network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return (captured[-1] if captured else output), variances


@torch.no_grad()
def zen(network, x, eps, gamma=1e-2):
    clean, variances = features(network, x)
    mixed, _ = features(network, x + gamma * eps)  # a new tensor: x itself is left as it is
    delta = (clean - mixed).abs().flatten(1).sum(1).mean()
    bn = sum(float(torch.log(torch.sqrt(v))) for v in variances)
    return float(torch.log(delta)) + bn


class Zen:
    name = "zen"
    description = "Zen-score: log of the feature change under a small input perturbation plus BatchNorm scales (higher is better)"
    higher_is_better = True
    cli_options = ZERO_COST_OPTIONS

    def settings(self, options, space_defaults):
        return {
            "batch_size": int(options.get("proxy_batch_size") or 64),
            "init": options.get("init") or "pytorch",
            "network": network_role(options),
            "mixup_gamma": 1e-2,
        }

    def prepare(self, ctx):
        s = ctx.settings
        network = ctx.network(s["network"])
        shape = (s["batch_size"], 3, ctx.dataset.resolution, ctx.dataset.resolution)
        rng = ctx.rng("gaussian")  # data-free, but seeded like any other draw
        x = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).to(ctx.device)
        eps = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).to(ctx.device)

        def score(mask):
            network.mask = mask
            return zen(network, x, eps, s["mixup_gamma"])

        return score


@hookimpl
def register_proxies(register):
    register(Zen())
