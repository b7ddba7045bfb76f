"""ZiCo (Li et al., ICLR 2023): the inverse coefficient of variation of gradients, as a tenas-kit proxy.

Written from the official code (SLDGroup/ZiCo, commit b0fec65,
``ZeroShotProxy/compute_zico.py``) as AZ-NAS runs it on NAS-Bench-201
(cvlab-yonsei/AZ-NAS, commit 5e6683a, ``NB201/ZeroShotProxy/compute_zico_score.py``:
two mini-batches, layers without a gradient skipped).

Two labelled batches go through the network in train mode, one backward pass
of the mean cross-entropy each. For every convolution and linear layer whose
weight gets a gradient, with g_1 and g_2 its two weight gradients, mean the
element-wise mean of |g| over the batches and std their (population) standard
deviation:

    score = sum over layers of log( sum over elements with std > 0 of mean / std )

A layer whose sum is 0 adds nothing. The network follows ``--init`` (the
NB201 runs use the modules' default initialisation).
"""

from __future__ import annotations

import numpy as np

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import ZERO_COST_OPTIONS, network_role

# torch is imported inside the functions: plugins are imported while the CLI starts.

DEFAULT_NETWORK = "evaluation"  # the NB201 figures are for the C=16, N=5 networks
BATCHES = 2


def layer_gradients(network, inputs, labels):
    """{layer name: flattened weight gradient} for the conv and linear layers the loss reaches."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    layers = [(name, m) for name, m in network.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    loss = F.cross_entropy(network(inputs), labels)
    grads = torch.autograd.grad(loss, [m.weight for _, m in layers], allow_unused=True)
    return {name: g.detach().reshape(-1).double().cpu().numpy() for (name, _), g in zip(layers, grads) if g is not None}


def zico(gradients):
    """ZiCo of per-batch gradient dicts (as ``layer_gradients`` returns), each naming the same layers."""
    score = 0.0
    for name in gradients[0]:
        g = np.stack([batch[name] for batch in gradients])
        std = g.std(axis=0)
        varying = std != 0
        total = np.sum(np.abs(g).mean(axis=0)[varying] / std[varying])
        if total != 0:
            score += np.log(total)
    return float(score)


class ZiCo:
    name = "zico"
    description = "ZiCo: sum over layers of log of the summed mean/std of weight gradients over two batches (higher is better)"
    higher_is_better = True
    cli_options = ZERO_COST_OPTIONS

    def settings(self, options, space_defaults):
        return {
            "batch_size": int(options.get("proxy_batch_size") or 64),
            "batches": BATCHES,
            "init": options.get("init") or "pytorch",
            "network": network_role(options, space_defaults, DEFAULT_NETWORK),
            "loss": "cross_entropy",
        }

    def prepare(self, ctx):
        s = ctx.settings
        network = ctx.network(s["network"])
        batches = [ctx.labelled_batch(s["batch_size"], stream=f"zico-{i}") for i in range(s["batches"])]

        def score(mask):
            network.mask = mask
            return zico([layer_gradients(network, *batch) for batch in batches])

        return score


@hookimpl
def register_proxies(register):
    register(ZiCo())
