"""MeCo (Jiang et al., NeurIPS 2023): the minimum eigenvalue of feature-map correlations, as a tenas-kit proxy.

Written from the official code (HamsterMimi/MeCo, commit 0d830dd,
``correlation/NAS_Bench_201.py`` and
``correlation/foresight/pruners/measures/meco.py``).

One image goes through the network in train mode. Every module's output is
read as the reference's forward hooks read it: the first sample's tensor,
reshaped to (its first dimension, the rest), so a feature map becomes
channels x pixels. Per output, the Pearson correlation matrix of the rows
(NaN and inf entries set to 0) gives its smallest eigenvalue; the score is the
sum of those over every module call, NaN and inf results left out. Outputs
with one column (logits, pooled vectors) have an all-zero matrix and add 0.

The reference sums over the module calls of its own network, so its number
depends on how that network nests its modules. Here each module call counts
as often as the reference's network returns that output
(``tenas_kit.nn.probes.reference_calls``, which a space sets where its nesting
differs): on NAS-Bench-201 the network of ``foresight/models/nasbench2.py``,
which the reference builds, so the sum runs over the same outputs; on DARTS,
DARTS's own modules. The network follows ``--init`` (the reference keeps the modules' default
initialisation).
"""

from __future__ import annotations

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import ZERO_COST_OPTIONS, network_role

# torch is imported inside the functions: plugins are imported while the CLI starts.

DEFAULT_NETWORK = "evaluation"  # the reference scores the C=16, N=5 NAS-Bench-201 networks


def min_correlation_eigenvalue(output):
    """The reference's per-output term: smallest eigenvalue of the row correlations of ``output[0]``."""
    import torch

    rows = output[0].detach()
    rows = rows.reshape(rows.shape[0], -1)
    if rows.shape[1] < 2:
        return 0.0  # a single column has no correlation: the matrix is all NaN, set to 0
    if rows.shape[0] < 2:
        return 0.0  # one row: corrcoef gives a scalar, not a matrix (the reference would stop here)
    corr = torch.corrcoef(rows)
    corr[~torch.isfinite(corr)] = 0
    return float(torch.linalg.eigvalsh(corr).min())


def meco(network, image):
    import math

    import torch

    from tenas_kit.nn.probes import reference_calls

    terms = []

    def hook(module, args, output):
        calls = reference_calls(module)
        if calls and isinstance(output, torch.Tensor) and output.dim() > 0:
            terms.append(calls * min_correlation_eigenvalue(output))

    handles = [m.register_forward_hook(hook) for m in network.modules()]
    try:
        with torch.no_grad():
            network(image)
    finally:
        for handle in handles:
            handle.remove()
    return float(sum(t for t in terms if math.isfinite(t)))


class MeCo:
    name = "meco"
    description = "MeCo: sum over module outputs of the least eigenvalue of one image's channel correlations (higher is better)"
    higher_is_better = True
    cli_options = ZERO_COST_OPTIONS

    def settings(self, options, space_defaults):
        # One image by definition (the reference reads only the first sample); --proxy-batch-size does not apply.
        # calls: each module call weighed by the reference network's; in the key, so no store serves scores of
        # the earlier count over tenas-kit's own module calls.
        return {"images": 1, "init": options.get("init") or "pytorch",
                "network": network_role(options, space_defaults, DEFAULT_NETWORK), "calls": "reference"}

    def prepare(self, ctx):
        network = ctx.network(ctx.settings["network"])
        image = ctx.batch(1)

        def score(mask):
            network.mask = mask
            return meco(network, image)

        return score


@hookimpl
def register_proxies(register):
    register(MeCo())
