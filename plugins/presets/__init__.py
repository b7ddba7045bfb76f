"""Built-in presets: TE-NAS's own pair, and ``best``, the ensemble a user should reach for first."""

from tenas_kit.hookspecs import hookimpl


class Preset:
    def __init__(self, name, description, proxies, combine="rank_sum", options=None, repeats=None):
        self.name, self.description, self.proxies = name, description, proxies
        self.combine, self.options, self.repeats = combine, options or {}, repeats


TENAS = Preset("tenas", "TE-NAS (Chen et al. 2021): kappa_N and R_N, weighted rank sum",
               [("ntk", 1.0), ("regions", 1.0)])

# Two signals of different families, each on the network its paper scored: MeCo (feature-map correlations
# of one image, C=16 N=5) and SWAP (sample-wise activation patterns of a batch, with its size regulariser).
# AZ-NAS's sum of log ranks: a cell must do well on both, so neither's blind spot carries it. Equal weights:
# nothing here is fitted. One repeat, as the pair was measured (docs/benchmarks.md): its cost is what lets a
# user rank a whole space. docs/decisions.md says how the pair was chosen.
BEST = Preset("best", "training-free ensemble: MeCo and SWAP, sum of log ranks (AZ-NAS's rule), one repeat",
              [("meco", 1.0), ("swap", 1.0)], combine="log_rank_sum", repeats=1)


@hookimpl
def register_presets(register):
    register(TENAS)
    register(BEST)
