"""Built-in presets: TE-NAS's own pair, and ``best``, the ensemble a user should reach for first."""

from tenas_kit.hookspecs import hookimpl


class Preset:
    def __init__(self, name, description, proxies, combine="rank_sum", options=None):
        self.name, self.description, self.proxies = name, description, proxies
        self.combine, self.options = combine, options or {}


TENAS = Preset("tenas", "TE-NAS (Chen et al. 2021): kappa_N and R_N, weighted rank sum",
               [("ntk", 1.0), ("regions", 1.0)])

# Provisional until the ensemble's proxies land: training-free signals that each rank NB201 well and cost
# milliseconds a cell, combined by AZ-NAS's rule, which lets one weak proxy veto a cell.
BEST = Preset("best", "training-free ensemble: synflow, naswot, FLOPs; sum of log ranks (AZ-NAS's rule)",
              [("synflow", 1.0), ("naswot", 1.0), ("flops", 1.0)], combine="log_rank_sum")


@hookimpl
def register_presets(register):
    register(TENAS)
    register(BEST)
