"""synflow (Tanaka et al., NeurIPS 2020; as a zero-cost proxy, Abdelfattah et al., ICLR 2021).

Data-free. The network is linearised: double precision (the products of many
weights overflow float32 in deep networks) and every parameter replaced by its
absolute value. One all-ones image of shape (1, 3, R, R) goes through it; the
score is the sum, over the weight of every convolution and linear layer, of
|w * dS/dw| with S the sum of the outputs.

BatchNorm runs in eval mode with its freshly initialised running statistics
(mean 0, variance 1), so it is the identity up to 1/sqrt(1 + eps) and its
absolute affine parameters: the usual choice, and close to the reference's
synflow for NAS-Bench-201, which builds the network without BatchNorm.
Train-mode BatchNorm would normalise a batch of one all-ones image.
"""

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import ZERO_COST_OPTIONS, network_role

# torch is imported inside the functions: plugins are imported while the CLI starts.


def linearise(network):
    """In place: float64, |parameters|, eval mode. The proxy owns its network, so nothing is restored."""
    import torch

    with torch.no_grad():
        network.double().eval()
        for p in network.parameters():
            p.abs_()
    return network


def synflow(network, shape):
    """Score of a linearised network on an all-ones input of ``shape``."""
    import torch

    from tenas_kit.nn.probes import layer_weights

    device = next(network.parameters()).device
    weights = layer_weights(network)
    output = network(torch.ones(shape, dtype=torch.float64, device=device))
    grads = torch.autograd.grad(output.sum(), weights, allow_unused=True)  # ops not run: no gradient
    return sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads) if g is not None)


class Synflow:
    name = "synflow"
    description = "synflow: data-free sum of |w x grad| of the summed output, |weights|, all-ones input (higher is better)"
    higher_is_better = True  # published correlation with accuracy is positive (Kendall tau about 0.57)
    cli_options = ZERO_COST_OPTIONS

    def settings(self, options, space_defaults):
        # Data-free: no batch size, no images; the weights' magnitudes still depend on --init.
        return {"init": options.get("init") or "pytorch", "network": network_role(options, space_defaults), "bn": "eval"}

    def prepare(self, ctx):
        network = linearise(ctx.network(ctx.settings["network"]))
        r = ctx.dataset.resolution

        def score(mask):
            network.mask = mask
            return synflow(network, (1, 3, r, r))

        return score


@hookimpl
def register_proxies(register):
    register(Synflow())
