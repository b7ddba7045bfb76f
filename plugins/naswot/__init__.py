"""NASWOT (Mellor et al., ICML 2021): the log-determinant of the ReLU-code kernel, as a tenas-kit proxy.

Each sample's binary code is the on/off pattern (output > 0) of every
``nn.ReLU`` acting on a 4-D tensor, concatenated. With codes c (batch x units),
K = c c^T + (1 - c)(1 - c)^T counts, for each pair of samples, the units on
which they agree (units minus the Hamming distance). Score: log |det K| in
float64; identical codes make K singular and the score -inf (ranked last).
"""

import numpy as np

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import BatchProxy

# The probes (torch) are imported inside the function: plugins are imported while the CLI starts.


def naswot(network, inputs):
    from tenas_kit.nn.probes import activation_codes

    c = activation_codes(network, inputs).double().cpu()
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
