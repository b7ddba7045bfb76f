"""R_N, the number of linear regions (TE-NAS expressivity indicator), as a tenas-kit proxy."""

import click

from tenas_kit.hookspecs import hookimpl


class LinearRegions:
    name = "regions"
    description = "R_N: distinct ReLU activation patterns on the thin network (expressivity, higher is better)"
    higher_is_better = True
    cli_options = [
        click.Option(["--region-samples"], type=click.IntRange(1, 100_000), default=None,
                     help="Crops per R_N batch (default 1000, as the reference)."),
        click.Option(["--region-batches"], type=click.IntRange(1, 100), default=None,
                     help="R_N batches whose activation patterns are pooled (default 3)."),
        click.Option(["--region-crop"], type=click.IntRange(1, 64), default=None,
                     help="Side of the crops R_N's thin network sees (default 3)."),
    ]

    def settings(self, options, space_defaults):
        return {
            "samples": int(options.get("region_samples") or 1000),
            "batches": int(options.get("region_batches") or 3),
            "crop": int(options.get("region_crop") or 3),
            "init": options.get("init") or "pytorch",
            "network": "thin",
            # Crops come from unaugmented images, as the reference's RandomCrop(3, padding=0) does:
            # zero padding would add constant patches that all share one code.
            "source": "unaugmented",
        }

    def prepare(self, ctx):
        # torch only here, once scoring starts: plugins are imported while the CLI starts.
        import torch

        from .regions import activation_codes, count_distinct, crops

        s = ctx.settings
        network = ctx.network("thin", fan_mode="fan_in", in_channels=1)
        rng = ctx.rng("crops")
        batches = [crops(ctx.batch(s["samples"], stream=f"images{b}", augmented=False), s["crop"], rng) for b in range(s["batches"])]

        def score(mask):
            network.mask = mask
            # BatchNorm normalises each batch on its own, as the reference's 3 batches of 1000 do.
            codes = torch.cat([activation_codes(network, batch) for batch in batches])
            return float(count_distinct(codes))

        return score


@hookimpl
def register_proxies(register):
    register(LinearRegions())
