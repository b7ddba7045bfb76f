"""Example third-party tenas-kit plugin.

``weightnorm``: the L2 norm of the weights of the ops a mask keeps, at
initialisation (higher is better). It shows the whole proxy contract: a name,
a direction, the settings that change its number, and ``prepare(ctx)`` that
draws a network once and returns a scorer for any op mask.
It also adds a command, ``tenaskit example-hello``, through ``register_commands``.
Its tests (``tests/``) use tenas-kit's harness, the pytest fixture ``tenaskit_harness``.
"""

import math

from tenas_kit.hookspecs import hookimpl


class WeightNorm:
    name = "weightnorm"                  # what --proxies names
    description = "L2 norm of the alive ops' weights at init (example plugin)"
    higher_is_better = True              # the direction ranks follow

    def settings(self, options, space_defaults):
        # Every setting that changes the number: recorded in run files, part of score-store keys.
        return {"init": options.get("init") or "pytorch", "network": "supernet"}

    def prepare(self, ctx):
        import torch                          # here, not at module level: tenaskit --help starts without it

        network = ctx.network("supernet")    # the space's network for ctx.mask, seeded, on ctx.device
        probe = ctx.batch(2)                  # normalised images, seeded; shared, do not modify in place

        def score(mask):                      # any subset of ctx.mask; same weights and data each call
            network.mask = mask               # which ops run from now on; no weight changes
            ran = set()
            hooks = [m.register_forward_hook(lambda m, i, o: ran.add(m)) for m in network.modules()]
            try:
                with torch.no_grad():
                    network(probe)            # logits, shape (2, classes); here only to see which modules run
            finally:
                for hook in hooks:
                    hook.remove()
            # In the network's own module order, so the sum is the same in every process.
            weights = [p for m in network.modules() if m in ran
                       for n, p in m.named_parameters(recurse=False) if "weight" in n]
            return math.sqrt(sum(float((w.detach() ** 2).sum()) for w in weights))

        return score


@hookimpl
def register_proxies(register):
    register(WeightNorm())


@hookimpl
def register_commands(cli):
    import click

    @cli.command(name="example-hello")
    def hello():
        """Say hello from the example plugin."""
        click.echo("hello from tenaskit-example-proxy")
