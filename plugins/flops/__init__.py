"""FLOPs: multiply-adds of a one-image forward pass, as a tenas-kit proxy."""

from tenas_kit.hookspecs import hookimpl
from tenas_kit.proxy import ZERO_COST_OPTIONS, network_role

# torch is imported inside the functions: plugins are imported while the CLI starts.


def multiply_adds(network, inputs):
    """Multiply-adds of ``network(inputs)``: PyTorch's FLOP counter counts 2 per multiply-add
    (convolutions and matrix products; element-wise ops, BatchNorm and pooling are not counted)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    # Its module tracker hooks every module of the process, other threads' too (their backward passes then
    # fail); only the total is read here, which needs no tracking.
    counter.mod_tracker = _TotalOnly()
    with torch.no_grad(), counter:
        network(inputs)
    return counter.get_total_flops() / 2


class _TotalOnly:
    """In place of FlopCounterMode's ModuleTracker: every count goes to the total ("Global") alone."""

    def __init__(self):
        self.parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return None


class FlopCount:
    name = "flops"
    description = "FLOPs: multiply-adds of one image at the dataset resolution (higher is better)"
    higher_is_better = True  # as #params: bigger cells, higher accuracy (Kendall tau about 0.55)
    cli_options = ZERO_COST_OPTIONS

    def settings(self, options, space_defaults):
        # The resolution comes with --dataset, already part of every run and cache key.
        return {"network": network_role(options, space_defaults), "images": 1}

    def prepare(self, ctx):
        import torch

        network = ctx.network(ctx.settings["network"]).eval()  # eval: one image through BatchNorm
        r = ctx.dataset.resolution
        image = torch.zeros(1, 3, r, r, device=ctx.device)

        def score(mask):
            network.mask = mask
            return float(multiply_adds(network, image))

        return score


@hookimpl
def register_proxies(register):
    register(FlopCount())
