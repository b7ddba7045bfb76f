"""VKDNW (Tybl and Neumann, CVPR 2025): Variance of Knowledge of Deep Network Weights, as a tenas-kit proxy.

Written from the authors' NB201 code (ondratybl/VKDNW, commit 6901b65,
``NB201/ZeroShotProxy/compute_vkdnw_score.py``; the aggregation from
``NB201/tss_utils.py`` and ``NB201/paper_preparation.ipynb`` at 19cad2f).

The network gets Kaiming-normal (fan-in) weights and is put in eval mode with
fresh BatchNorm statistics, so that each sample's logits depend on that sample
alone. The parameters examined are the first element of each of the first 128
parameter tensors (in ``named_parameters`` order, among the modules that run).
With J_n the Jacobian of sample n's logits with respect to them (classes x
128), p_n its softmax probabilities smoothed as p (1 - 0.05) + 0.05 / classes,
and L_n the lower-triangular Cholesky factor of diag(p_n) - p_n p_n^T in the
closed form of Tanabe and Sagae (1992):

    F = mean over n of (L_n J_n)^T (L_n J_n)

as the reference computes it (the textbook Fisher information would be
J^T L L^T J; the reference's product is kept). With q the nine deciles
(0.1 ... 0.9) of F's singular values and t = q / (sum |q| + 1e-10), the
entropy is -sum t log(t + 1e-10). The singular values are taken as the
reference takes them, with the singular vectors (``torch.svd``): on an
ill-conditioned F that changes the small ones, and so the entropy.

VKDNW_single ranks networks by (number of parameter tensors, entropy)
lexicographically; ``vkdnw`` returns one number with that order: the tensor
count plus entropy / 10 (the entropy of nine values is at most log 9 < 10).
VKDNW_agg, the paper's headline figure, is the sum of the logs of the ranks of
``vkdnw``, jacov (``jacob_cov`` under ``--init kaiming``), AZ-NAS's
expressivity and trainability (``az_expressivity``, ``az_trainability``) and
FLOPs (``az_complexity``): a preset's rule, not this proxy.

The reference's per-sample Jacobian comes from torch.func (vmap of jacrev).
Here, with eval-mode BatchNorm, one backward pass per class of the whole batch
gives every sample's gradient at each module output, and the derivative with
respect to a weight's first element follows from the module's input: the same
numbers for ten batched backward passes instead of a vmapped one per sample
(taken 16 samples at a time, which bounds the memory of the retained graph).
"""

from __future__ import annotations

import numpy as np

from tenas_kit.errors import TenasError
from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import ZERO_COST_OPTIONS, network_role
from tenas_kit.seeds import derive

# torch is imported inside the functions: plugins are imported while the CLI starts.

DEFAULT_NETWORK = "evaluation"  # the paper scores the C=16, N=5 NAS-Bench-201 networks
SMOOTHING = float(np.float16(0.05))  # the reference holds its label smoothing in half precision
DECILES = np.linspace(0.1, 0.9, 9)


def run_modules(network, inputs):
    """Forward ``inputs``; returns (logits, {module: (input, output)}) for every module that ran once."""
    calls = {}

    def hook(module, args, output):
        calls.setdefault(module, []).append((args[0] if args else None, output))

    handles = [m.register_forward_hook(hook) for m in network.modules()]
    try:
        logits = network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return logits, calls


def chosen_parameters(network, calls, count):
    """(module, parameter name) of the first ``count`` parameter tensors of the modules that ran."""
    chosen = []
    for module in network.modules():
        if module in calls:
            chosen.extend((module, name) for name, _ in module.named_parameters(recurse=False))
    return chosen[:count]


def first_element_gradient(module, name, x, grad):
    """Per-sample derivative of the backpropagated quantity w.r.t. element 0 of ``module.<name>``, given the
    module's input ``x`` and the gradient at its output ``grad`` (samples independent)."""
    import torch.nn as nn
    import torch.nn.functional as F

    n = grad.shape[0]
    if name == "bias" and isinstance(module, (nn.Conv2d, nn.Linear, nn.modules.batchnorm._BatchNorm)):
        channel = grad[..., 0] if isinstance(module, nn.Linear) else grad[:, 0]
        return channel.reshape(n, -1).sum(1)
    if name != "weight":
        raise TenasError(f"vkdnw: no per-sample gradient for parameter '{name}' of {type(module).__name__}")
    if isinstance(module, nn.Conv2d) and module.padding_mode == "zeros" and not isinstance(module.padding, str):
        # Output channel 0, input channel 0, kernel offset (0, 0): each output pixel reads the padded input at
        # stride multiples; dilation does not move offset 0, and group 0 holds input channel 0.
        (ph, pw), (sh, sw) = module.padding, module.stride
        h, w = grad.shape[2:]
        padded = F.pad(x[:, 0], (pw, pw, ph, ph))
        return (grad[:, 0] * padded[:, : sh * (h - 1) + 1 : sh, : sw * (w - 1) + 1 : sw]).reshape(n, -1).sum(1)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not module.training:
        normalised = (x[:, 0] - module.running_mean[0]) / (module.running_var[0] + module.eps).sqrt()
        return (grad[:, 0] * normalised).reshape(n, -1).sum(1)
    if isinstance(module, nn.Linear):
        return (grad[..., 0] * x[..., 0]).reshape(n, -1).sum(1)
    raise TenasError(f"vkdnw: no per-sample gradient for the weight of {type(module).__name__}")


def jacobian(network, inputs, count):
    """(logits, J, calls): J[n, c, k] = d logits[n, c] / d (first element of the k-th chosen parameter
    tensor); ``calls`` as ``run_modules`` returns them."""
    import torch

    logits, calls = run_modules(network, inputs)
    chosen = chosen_parameters(network, calls, count)
    for module, _ in chosen:
        if len(calls[module]) != 1:
            raise TenasError(f"vkdnw: {type(module).__name__} runs {len(calls[module])} times in one forward pass")
    outputs = [calls[module][0][1] for module, _ in chosen]
    columns = []
    for c in range(logits.shape[1]):
        # Dead-end ops (no path to the logits) and unused outputs get zero gradients.
        grads = torch.autograd.grad(logits[:, c].sum(), outputs, retain_graph=True, allow_unused=True,
                                    materialize_grads=True)
        columns.append(torch.stack([first_element_gradient(module, name, calls[module][0][0], g)
                                    for (module, name), g in zip(chosen, grads)], 1))
    return logits.detach(), torch.stack(columns, 1).detach(), calls


def multinomial_cholesky(p):
    """Lower-triangular L (per row of ``p``) with L L^T = diag(p) - p p^T, in closed form; the last column is 0."""
    import torch

    q = 1 - torch.cumsum(p, 1)
    q[:, -1] = 0
    previous = torch.cat([torch.ones_like(q[:, :1]), q[:, :-1]], 1)
    d = torch.sqrt(p * q / previous)
    c = p.shape[1]
    below = torch.tril(torch.ones(c, c, dtype=torch.bool, device=p.device), -1)
    ratio = -p[:, :, None] / torch.where(q == 0, torch.ones_like(q), q)[:, None, :]
    unit = torch.eye(c, dtype=p.dtype, device=p.device).expand_as(ratio)
    return torch.where(below, ratio, unit) * d[:, None, :]


def fisher(logits, jac):
    """The reference's mean of (L J)^T (L J) over samples."""
    import torch

    probs = torch.softmax(logits, 1) * (1 - SMOOTHING) + SMOOTHING / logits.shape[1]
    lj = multinomial_cholesky(probs) @ jac
    return torch.einsum("nck,ncl->kl", lj, lj) / len(lj)


def decile_entropy(matrix):
    import torch

    # The reference's torch.svd(...).S: the singular values computed with the vectors. Where most of them lie
    # below float32 resolution, the values-only algorithm of svdvals returns other small values, and other deciles.
    values = torch.linalg.svd(matrix, full_matrices=False).S
    q = torch.quantile(values, torch.tensor(DECILES, dtype=values.dtype, device=values.device))
    # The L1 norm summed as the reference sums it: where one decile dominates, the entropy is sensitive to it.
    t = q / (torch.linalg.norm(q, ord=1).item() + 1e-10)
    return float(-(t * torch.log(t + 1e-10)).sum())


def vkdnw(network, inputs, count=128, chunk=16):
    """(tensors, entropy): parameter tensors of the modules that run, and the Fisher deciles' entropy.
    Samples are independent in eval mode, so the Jacobian is taken ``chunk`` samples at a time, which
    bounds the memory the retained graph takes."""
    import torch

    parts = [jacobian(network, inputs[i : i + chunk], count) for i in range(0, len(inputs), chunk)]
    logits, jac, calls = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]), parts[0][2]
    tensors = sum(len(list(m.parameters(recurse=False))) for m in network.modules() if m in calls)
    return tensors, decile_entropy(fisher(logits, jac))


class VKDNW:
    name = "vkdnw"
    description = ("VKDNW_single: parameter tensors, then the entropy of the Fisher information's eigenvalue "
                   "deciles (tensors + entropy / 10; higher is better)")
    higher_is_better = True
    cli_options = ZERO_COST_OPTIONS

    def settings(self, options, space_defaults):
        return {
            "batch_size": int(options.get("proxy_batch_size") or 64),
            "init": "kaiming_fan_in",  # part of the score: VKDNW initialises every network so
            "input": "gaussian",  # the NB201 code's default: N(0, 1) inputs
            "network": network_role(options, space_defaults, DEFAULT_NETWORK),
            "bn": "eval",
            "tensors": 128,
            "smoothing": 0.05,
            "svd": "torch.svd",  # the reference's singular values; in the key, so no store serves svdvals' scores
        }

    def prepare(self, ctx):
        import torch
        import torch.nn as nn

        from tenas_kit.nn.init import kaiming

        s = ctx.settings
        network = ctx.network(s["network"])
        seed = derive(ctx.seed, ctx.proxy, "kaiming", ctx.round, ctx.repeat)
        kaiming(network, "fan_in", torch.Generator(device=ctx.device).manual_seed(seed))
        network.eval()
        shape = (s["batch_size"], 3, ctx.dataset.resolution, ctx.dataset.resolution)
        inputs = torch.from_numpy(ctx.rng("gaussian").standard_normal(shape, dtype=np.float32)).to(ctx.device)

        def score(mask):
            network.mask = mask
            for m in network.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.reset_running_stats()  # fresh statistics whatever ran on this network before
            tensors, entropy = vkdnw(network, inputs, s["tensors"])
            return tensors + entropy / 10

        return score


@hookimpl
def register_proxies(register):
    register(VKDNW())
