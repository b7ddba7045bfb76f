"""A test proxy whose scorer raises, as a file: spawned scoring processes load plugins from their own
imports, so the error's way back from a worker process can only be tested with a real plugin file."""

from tenas_kit.hookspecs import hookimpl


class Raiser:
    name = "raiser"
    description = "a scorer that raises (test plugin)"
    higher_is_better = True

    def settings(self, options, space_defaults):
        return {}

    def prepare(self, ctx):
        def score(mask):
            raise ZeroDivisionError("bad cell")

        return score


@hookimpl
def register_proxies(register):
    register(Raiser())
