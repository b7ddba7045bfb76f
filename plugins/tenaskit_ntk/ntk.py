"""The empirical neural tangent kernel of a network on one batch, and its condition number.

Row i of the Jacobian J is the gradient of the sum of sample i's logits with
respect to every parameter whose name contains ``weight``, taken through the
full-batch forward pass (train-mode BatchNorm couples the samples, so every row
needs a backward pass over the whole batch). The rows are computed in batched
backward passes, one-hot cotangents vectorised by autograd, which is exact and
faster than a Python loop of backward calls.
"""

import numpy as np
import torch

NAN_CONDITION = 100000.0  # the reference's value for a NaN condition number


def weight_parameters(network):
    return [p for name, p in network.named_parameters() if "weight" in name and p.requires_grad]


def empirical_ntk(network, inputs, chunk=None):
    """Theta = J J^T (batch x batch), accumulated in float64."""
    params = weight_parameters(network)
    outputs = network(inputs)
    sums = outputs.reshape(len(inputs), -1).sum(1)
    eye = torch.eye(len(inputs), dtype=sums.dtype, device=sums.device)
    chunk = chunk or len(inputs)
    rows = []
    for start in range(0, len(inputs), chunk):
        grads = torch.autograd.grad(
            sums, params, grad_outputs=eye[start : start + chunk], retain_graph=True,
            is_grads_batched=True, allow_unused=True,
        )
        rows.append(torch.cat([g.reshape(g.shape[0], -1) for g in grads if g is not None], 1))
    jacobian = torch.cat(rows).double()
    return jacobian @ jacobian.T


def condition_number(theta):
    """lambda_max / lambda_min of a symmetric matrix; NaN becomes 100000 as in the reference."""
    eigenvalues = torch.linalg.eigvalsh(theta)  # ascending
    value = (eigenvalues[-1] / eigenvalues[0]).item()
    return NAN_CONDITION if np.isnan(value) else value
