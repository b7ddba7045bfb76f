"""jacob_cov (Mellor et al., "NAS without training" v1; Abdelfattah et al., ICLR 2021), as a tenas-kit proxy.

J holds, per sample, the gradient of the summed network output with respect
to that sample's input (one backward pass of the whole batch, train-mode
BatchNorm). With v the eigenvalues of the correlation matrix of J's rows,
score = -sum(log(v + 1e-5) + 1 / (v + 1e-5)): high when the samples' input
gradients are uncorrelated. The reference takes ``np.linalg.eig``; the matrix
is symmetric, so ``eigvalsh`` gives the same values, always real. A
degenerate matrix (a constant row, a negative eigenvalue) scores NaN, which
ranks last.
"""

import numpy as np

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import BatchProxy

# torch is imported inside the functions: plugins are imported while the CLI starts.

K = 1e-5


def input_jacobian(network, inputs):
    import torch

    # A fresh leaf: the shared batch tensor is neither modified nor given a .grad.
    x = inputs.detach().clone().requires_grad_(True)
    # A cell whose output does not depend on its input (every path through 'none') has
    # no input gradient at all: a zero Jacobian, which scores NaN below.
    (grad,) = torch.autograd.grad(network(x).sum(), x, allow_unused=True, materialize_grads=True)
    return grad.reshape(len(x), -1).double().cpu().numpy()


def correlation_score(jacobian):
    with np.errstate(all="ignore"):
        corrs = np.corrcoef(jacobian)
        if not np.all(np.isfinite(corrs)):
            return float("nan")
        v = np.linalg.eigvalsh(corrs)
        return float(-np.sum(np.log(v + K) + 1.0 / (v + K)))


class JacobCov(BatchProxy):
    name = "jacob_cov"
    description = "jacob_cov: score of the correlation eigenvalues of input Jacobians on one batch (higher is better)"
    higher_is_better = True

    def measure(self, network, batch):
        return correlation_score(input_jacobian(network, batch))


@hookimpl
def register_proxies(register):
    register(JacobCov())
