"""A test proxy whose score is known for every cell: the number of ops other than ``none`` left in the mask.

A real plugin file, for tests that load plugins the way a user does (``--plugin FILE.py``,
``--plugins-dir``, an installed entry point) or that start the console script.
"""

from tenas_kit.hookspecs import hookimpl


class AliveOps:
    name = "aliveops"
    description = "ops other than none left in the mask (test plugin)"
    higher_is_better = True

    def settings(self, options, space_defaults):
        return {}

    def prepare(self, ctx):
        def score(mask):
            return float(mask[..., 1:].sum())  # op 0 is none in NB-201 and DARTS

        return score


@hookimpl
def register_proxies(register):
    register(AliveOps())
