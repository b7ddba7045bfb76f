"""Weight initialisation schemes for networks scored at initialisation.

``pytorch``: the modules' own default initialisation, drawn when the network is
built. This is what TE-NAS's reference code effectively uses (its re-init call
never matches a scheme name), and its published numbers come from it.

``kaiming``: the paper's intent: Kaiming-normal weights (fan_out for kappa_N,
fan_in for R_N), BatchNorm weight 1 and bias 0, every bias 0, re-drawn for every
repeat.

Networks are built without seeding PyTorch's global generator: jobs that build
side by side on threads would otherwise reseed it under each other. Each build
draws from a generator of its own instead, and draws exactly the numbers that
``torch.manual_seed(seed)`` followed by the same construction would.
"""

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

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
    """Build with ``make()``, its draws from ``seed`` (``own_draws``), then apply ``scheme``."""
    with own_draws(seed):
        network = make()
    if scheme == "kaiming":
        kaiming(network, mode, torch.Generator().manual_seed(seed))
    return network


def own_draws(seed):
    """A context in which every random draw that names no generator takes one seeded with ``seed`` (one per
    device). PyTorch's global generator is neither read nor changed, and other threads are not affected."""
    return _OwnDraws(seed)


# Draws whose ``generator`` may be left out; nn.init's functions pass theirs explicitly, as None by default.
_DRAWS = frozenset({
    torch.rand, torch.randn, torch.randint, torch.randperm, torch.rand_like, torch.randn_like, torch.randint_like,
    torch.normal, torch.bernoulli, torch.multinomial, torch.poisson, torch.Tensor.bernoulli, torch.Tensor.multinomial,
    torch.Tensor.uniform_, torch.Tensor.normal_, torch.Tensor.random_, torch.Tensor.bernoulli_,
    torch.Tensor.exponential_, torch.Tensor.geometric_, torch.Tensor.log_normal_, torch.Tensor.cauchy_,
})


class _OwnDraws(TorchFunctionMode):
    # A function mode, because it sees every draw, module constructors' included, and is per thread.
    def __init__(self, seed):
        super().__init__()
        self.seed, self.generators = seed, {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if kwargs.get("generator") is None and ("generator" in kwargs or func in _DRAWS):
            kwargs = {**kwargs, "generator": self._generator(args, kwargs)}
        return func(*args, **kwargs)

    def _generator(self, args, kwargs):
        tensor = next((a for a in args if isinstance(a, torch.Tensor)), None)
        if tensor is not None:
            device = tensor.device
        else:
            device = torch.device(kwargs.get("device") or torch.get_default_device())
        if device not in self.generators:
            self.generators[device] = torch.Generator(device).manual_seed(self.seed)
        return self.generators[device]
