"""Weight initialisation schemes for networks scored at initialisation.

``pytorch``: the modules' own default initialisation, drawn when the network is
built. This is what TE-NAS's reference code effectively uses (its re-init call
never matches a scheme name), and its published numbers come from it.

``kaiming``: the paper's intent: Kaiming-normal weights (fan_out for kappa_N,
fan_in for R_N), BatchNorm weight 1 and bias 0, every bias 0, re-drawn for every
repeat.
"""

import torch
import torch.nn as nn

SCHEMES = ("pytorch", "kaiming")


def kaiming(module, mode, generator):
    _redraw(module, lambda w: nn.init.kaiming_normal_(w, mode=mode, nonlinearity="relu", generator=generator))


def gaussian(module, generator):
    """N(0, 1) weights with no fan scaling: Zen-NAS's initialisation, part of the Zen-score's definition."""
    _redraw(module, lambda w: nn.init.normal_(w, generator=generator))


def _redraw(module, draw):
    """``draw`` every conv/linear weight; biases 0, BatchNorm weight 1 and bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            draw(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def redraws_per_repeat(scheme):
    """Whether each repeat gets fresh weights (the reference keeps one draw per round)."""
    return scheme == "kaiming"


def build(make, seed, scheme, mode):
    """Build with ``make()`` under a fixed seed, then apply ``scheme``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = make()
    if scheme == "kaiming":
        kaiming(network, mode, torch.Generator().manual_seed(seed))
    return network
