"""kappa_N, the NTK condition number (TE-NAS trainability indicator), as a tenas-kit proxy."""

import click

from tenas_kit.hookspecs import hookimpl


# The kernels live in .ntk, which imports torch; the CLI lists the modes while it starts, so each
# mode's kernel is looked up only when it runs.
def _exact(network, inputs, chunk):
    from .ntk import empirical_ntk

    return empirical_ntk(network, inputs, chunk)


def _fast(network, inputs, chunk):
    from .ntk import frozen_statistics_ntk

    return frozen_statistics_ntk(network, inputs)


KERNELS = {"exact": _exact, "fast": _fast}


class NTKCondition:
    name = "ntk"
    description = "kappa_N: condition number of the empirical NTK at init (trainability, lower is better)"
    higher_is_better = False
    cli_options = [
        click.Option(["--batch-size"], type=click.IntRange(2, 4096), default=None,
                     help="Images in the NTK batch (default: the space's; 72 for nb201)."),
        click.Option(
            ["--ntk-mode"], type=click.Choice(sorted(KERNELS)), default=None,
            help="kappa_N kernel: exact (default; gradients through train-mode BatchNorm) or fast "
            "(per-sample gradients in one vmap pass, BatchNorm statistics held constant).",
        ),
        # How many one-hot cotangents share a batched backward: speed only, never the number.
        click.Option(["--ntk-chunk"], type=click.IntRange(1, 4096), default=None, hidden=True),
    ]

    def settings(self, options, space_defaults):
        return {
            "batch_size": int(options.get("batch_size") or space_defaults.get("batch_size", 32)),
            "init": options.get("init") or "pytorch",
            "mode": options.get("ntk_mode") or "exact",
            "network": "supernet",
        }

    def prepare(self, ctx):
        from .ntk import condition_number

        network = ctx.network("supernet", fan_mode="fan_out")
        inputs = ctx.batch(ctx.settings["batch_size"])
        chunk = ctx.option("ntk_chunk", 8)  # 8 one-hot cotangents per batched backward: fastest measured on CPU
        kernel = KERNELS[ctx.settings["mode"]]

        def score(mask):
            network.mask = mask
            return condition_number(kernel(network, inputs, chunk))

        return score


@hookimpl
def register_proxies(register):
    register(NTKCondition())
