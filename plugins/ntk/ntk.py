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

from tenas_kit.nn.layers import cpu_kernels

NAN_CONDITION = 100000.0  # the reference's value for a NaN condition number


def weight_parameters(network):
    return [p for name, p in network.named_parameters() if "weight" in name and p.requires_grad]


def empirical_ntk(network, inputs, chunk=None):
    """Theta = J J^T (batch x batch), accumulated in float64."""
    with cpu_kernels(network):
        return _empirical_ntk(network, inputs, chunk)


def _empirical_ntk(network, inputs, chunk):
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


@torch.no_grad()
def batch_statistics(network, inputs):
    """Each BatchNorm's biased batch mean and variance on ``inputs`` (train-mode forward)."""
    stats, handles = {}, []
    for name, module in network.named_modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            def capture(module, args, name=name):
                x = args[0].transpose(0, 1).flatten(1)
                stats[name] = (x.mean(1), x.var(1, unbiased=False))
            handles.append(module.register_forward_pre_hook(capture))
    try:
        network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return stats


def frozen_statistics_ntk(network, inputs):
    """Fast mode: Theta from per-sample gradients in one vmap pass, every BatchNorm
    normalising by the batch's mean and variance held as constants.

    The forward values equal the train-mode forward; the gradients omit the
    path through the batch statistics, so Theta differs from the exact kernel.
    """
    from torch.func import functional_call, grad, vmap

    stats = batch_statistics(network, inputs)
    weights = {n: p.detach() for n, p in network.named_parameters() if "weight" in n and p.requires_grad}
    fixed = {n: p.detach() for n, p in network.named_parameters() if n not in weights}
    buffers = dict(network.named_buffers())
    for name, (mean, var) in stats.items():
        prefix = f"{name}." if name else ""
        buffers[f"{prefix}running_mean"], buffers[f"{prefix}running_var"] = mean, var

    def summed_logits(w, x):
        return functional_call(network, (w, fixed, buffers), (x.unsqueeze(0),)).sum()

    was_training = network.training
    network.eval()
    try:
        with cpu_kernels(network):
            grads = vmap(grad(summed_logits), in_dims=(None, 0))(weights, inputs)
    finally:
        network.train(was_training)
    jacobian = torch.cat([g.reshape(len(inputs), -1) for g in grads.values()], 1).double()
    return jacobian @ jacobian.T
