"""A test proxy with an option of its own, as a file: ``--plugin leveled.py --level N`` must reach it,
so the file has to load before the command line is parsed. Its score is the level it was given."""

import click

from tenas_kit.hookspecs import hookimpl


class Leveled:
    name = "leveled"
    description = "scores every cell at --level (test plugin)"
    higher_is_better = True
    cli_options = [click.Option(["--level"], type=int, default=None, help="The score of every cell.")]

    def settings(self, options, space_defaults):
        return {"level": int(options.get("level") or 0)}

    def prepare(self, ctx):
        level = float(ctx.settings["level"])
        return lambda mask: level


@hookimpl
def register_proxies(register):
    register(Leveled())
