"""Example third-party tenas-kit plugin.

``weightnorm``: the L2 norm of the weights of the ops a mask keeps, at
initialisation (higher is better). It shows the whole proxy contract: a name,
a direction, the settings that change its number, and ``prepare(ctx)`` that
draws a network once and returns a scorer for any op mask.
It also adds a command, ``tenaskit example-hello``, through ``register_commands``.
"""

import click

from tenas_kit.hookspecs import hookimpl


class WeightNorm:
    name = "weightnorm"
    description = "L2 norm of the alive ops' weights at init (example plugin)"
    higher_is_better = True

    def settings(self, options, space_defaults):
        return {"init": options.get("init") or "pytorch", "network": "supernet"}

    def prepare(self, ctx):
        import torch  # here, not at the top: listing plugins and --help then start without PyTorch

        network = ctx.network("supernet")
        probe = ctx.batch(2)

        def score(mask):
            network.mask = mask
            used = set()
            hooks = [m.register_forward_hook(lambda m, i, o: used.add(m)) for m in network.modules()]
            with torch.no_grad():
                network(probe)
            for hook in hooks:
                hook.remove()
            weights = [p for m in used for n, p in m.named_parameters(recurse=False) if "weight" in n]
            return float(torch.sqrt(sum((w**2).sum() for w in weights)))

        return score


@hookimpl
def register_proxies(register):
    register(WeightNorm())


@hookimpl
def register_commands(cli):
    @cli.command(name="example-hello")
    def hello():
        """Say hello from the example plugin."""
        click.echo("hello from tenaskit-example-proxy")
