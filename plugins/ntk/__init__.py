"""kappa_N, the NTK condition number (TE-NAS trainability indicator), as a tenas-kit proxy."""

import click

from tenas_kit.hookspecs import hookimpl

from .ntk import condition_number, empirical_ntk, frozen_statistics_ntk

KERNELS = {"exact": empirical_ntk, "fast": lambda network, inputs, chunk: frozen_statistics_ntk(network, inputs)}


class NTKCondition:
    name = "ntk"
    description = "kappa_N: condition number of the empirical NTK at init (trainability, lower is better)"
    higher_is_better = False
    cli_options = [
        click.Option(
            ["--ntk-mode"], type=click.Choice(sorted(KERNELS)), default=None,
            help="kappa_N kernel: exact (default; gradients through train-mode BatchNorm) or fast "
            "(per-sample gradients in one vmap pass, BatchNorm statistics held constant).",
        )
    ]

    def settings(self, options, space_defaults):
        return {
            "batch_size": int(options.get("batch_size") or space_defaults.get("batch_size", 32)),
            "init": options.get("init") or "pytorch",
            "mode": options.get("ntk_mode") or "exact",
            "network": "supernet",
        }

    def prepare(self, ctx):
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
