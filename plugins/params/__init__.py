"""#params: the number of parameters a candidate actually uses, as a tenas-kit proxy."""

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import ZERO_COST_OPTIONS, network_role

# torch is imported inside the functions: plugins are imported while the CLI starts.


def used_parameters(network, inputs):
    """Parameters of every module that ran in one forward pass on ``inputs``.

    Forward hooks, not gradients: an op that runs but whose output is dropped
    (an NB201 node with no path to the output) still belongs to the built
    network, as NAS-Bench-201's own parameter counts have it. Shared
    parameters count once.
    """
    import torch

    ran = []
    handles = [m.register_forward_hook(lambda module, args, output: ran.append(module)) for m in network.modules()]
    try:
        with torch.no_grad():
            network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    unique = {id(p): p for module in ran for p in module.parameters(recurse=False)}
    return sum(p.numel() for p in unique.values())


class ParameterCount:
    name = "params"
    description = "#params: parameters of the ops the candidate runs (higher is better)"
    higher_is_better = True  # bigger NB201 cells train to higher accuracy (Kendall tau about 0.55)
    cli_options = ZERO_COST_OPTIONS

    def settings(self, options, space_defaults):
        # Weights and data do not change a count; only which network is counted does.
        return {"network": network_role(options, space_defaults)}

    def prepare(self, ctx):
        import torch

        # Eval mode: a one-image forward must not trip train-mode BatchNorm on 1x1 maps.
        network = ctx.network(ctx.settings["network"]).eval()
        r = ctx.dataset.resolution
        image = torch.zeros(1, 3, r, r, device=ctx.device)

        def score(mask):
            network.mask = mask
            return float(used_parameters(network, image))

        return score


@hookimpl
def register_proxies(register):
    register(ParameterCount())
