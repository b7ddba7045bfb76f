"""Zen-score (Lin et al., Zen-NAS, ICCV 2021) as a tenas-kit proxy.

Data-free. Conv and linear weights are redrawn from N(0, 1) (biases 0,
BatchNorm scale 1 and shift 0), as Zen-NAS does before scoring: without
fan-in scaling each BatchNorm's input variance grows with the width and kernel
of the layer before it, which is what the score's BatchNorm term measures.
With Gaussian inputs x and eps (batch x 3 x R x R), x' = x + gamma * eps
(gamma = 0.01) and f the feature map before global pooling (the input of the
network's last ``nn.AdaptiveAvgPool2d``; the logits when it has none):

    score = log(mean over samples of sum over features |f(x) - f(x')|)
            + sum over BatchNorm layers of log(sqrt(mean over channels of running_var))

as the Zen-NAS code computes it (sum, not mean, over features; no division by
gamma: both differ from a per-element finite difference by a constant, so
ranks are the same). ``running_var`` is what a fresh BatchNorm holds after the
two train-mode forwards (of x, then x'), computed from their batch variances
and the layer's momentum: the network is scored again for every mask, so its
own buffers have long moved on.
"""

import numpy as np

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import ZERO_COST_OPTIONS, network_role
from tenas_kit.seeds import derive

# torch is imported inside the functions: plugins are imported while the CLI starts.


def last_pool(network):
    import torch.nn as nn

    pools = [m for m in network.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    return pools[-1] if pools else None


def features(network, inputs):
    """(pre-pooling features, [(BatchNorm, mean over channels of its unbiased batch variance)]) of one forward."""
    import torch.nn as nn

    captured, variances, handles = [], [], []
    pool = last_pool(network)
    if pool is not None:
        handles.append(pool.register_forward_pre_hook(lambda module, args: captured.append(args[0])))
    for m in network.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            handles.append(m.register_forward_pre_hook(
                lambda module, args: variances.append((module, args[0].transpose(0, 1).flatten(1).var(1).mean()))
            ))
    try:
        output = network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return (captured[-1] if captured else output), variances


def running_variance(module, first, second):
    """Mean over channels of a fresh BatchNorm's running_var (starts at 1) after batches with these
    channel-mean variances; running_var is linear in them, so the channel mean passes through."""
    if module.momentum is None:  # cumulative average: the first batch replaces the initial 1
        return (first + second) / 2
    m = module.momentum
    return (1 - m) * ((1 - m) + m * first) + m * second


def zen(network, x, eps, gamma=1e-2):
    import torch

    with torch.no_grad():
        clean, first = features(network, x)
        mixed, second = features(network, x + gamma * eps)  # a new tensor: x itself is left as it is
        delta = (clean - mixed).abs().flatten(1).sum(1).mean()
        bn = sum(float(torch.log(torch.sqrt(running_variance(module, a, b)))) for (module, a), (_, b) in zip(first, second))
        return float(torch.log(delta)) + bn


class Zen:
    name = "zen"
    description = "Zen-score: log of the feature change under a small input perturbation plus BatchNorm scales (higher is better)"
    higher_is_better = True
    cli_options = ZERO_COST_OPTIONS

    def settings(self, options, space_defaults):
        return {
            "batch_size": int(options.get("proxy_batch_size") or 64),
            "init": "gaussian",  # part of the score's definition, not --init
            "network": network_role(options, space_defaults),
            "mixup_gamma": 1e-2,
        }

    def prepare(self, ctx):
        import torch

        from tenas_kit.nn.init import gaussian

        s = ctx.settings
        network = ctx.network(s["network"])
        seed = derive(ctx.seed, ctx.proxy, "weights", "gaussian", ctx.round, ctx.repeat)
        gaussian(network, torch.Generator(device=ctx.device).manual_seed(seed))
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
