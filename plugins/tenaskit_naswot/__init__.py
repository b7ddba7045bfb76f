"""NASWOT (Mellor et al., ICML 2021): the log-determinant of the ReLU-code kernel, as a tenas-kit proxy.

Each sample's binary code is the on/off pattern (output > 0) of every
``nn.ReLU`` acting on a 4-D tensor, concatenated. With codes c (batch x units),
K = c c^T + (1 - c)(1 - c)^T counts, for each pair of samples, the units on
which they agree (units minus the Hamming distance). Score: log |det K| in
float64; identical codes make K singular and the score -inf (ranked last).
"""

import numpy as np
import torch
import torch.nn as nn

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import BatchProxy


@torch.no_grad()
def relu_codes(network, inputs):
    """float64 (n, units): 1 where a ReLU's output is positive."""
    codes = []

    def hook(module, args, output):
        if args[0].dim() == 4:  # feature maps only, as TE-NAS's region count does
            codes.append((output > 0).reshape(len(inputs), -1).double())

    handles = [m.register_forward_hook(hook) for m in network.modules() if isinstance(m, nn.ReLU)]
    try:
        network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return torch.cat(codes, 1) if codes else torch.zeros(len(inputs), 0, dtype=torch.float64)


def naswot(network, inputs):
    c = relu_codes(network, inputs).cpu()
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    return float(np.linalg.slogdet(kernel.numpy())[1])


class NASWOT(BatchProxy):
    name = "naswot"
    description = "NASWOT: log|det| of the Hamming-similarity kernel of ReLU codes on one batch (higher is better)"
    higher_is_better = True

    def measure(self, network, batch):
        return naswot(network, batch)


@hookimpl
def register_proxies(register):
    register(NASWOT())
