"""tenas-kit: training-free neural architecture search (TE-NAS) with pluggable spaces, proxies and policies.

The API is ``search(...)`` and ``rank(...)`` (``tenas_kit.lifecycle``), configured by ``SearchConfig``.
Importing the package loads no PyTorch: commands that only list or parse start at once.
"""

__version__ = "0.1.0"

from tenas_kit.errors import TenasError  # noqa: E402
from tenas_kit.plan import SearchConfig  # noqa: E402


def search(config=None, out=None, plugins=(), reporter=None, resume=False, **overrides):
    """Run a TE-NAS search, or finish an interrupted one; returns a SearchResult (``arch, path = search(...)``).

    ``config`` is a SearchConfig; keyword overrides set its fields, e.g. ``search(space="nb201",
    data="path/to/images", seed=1)``; ``preset="best"`` applies a preset as ``--preset`` does; a plugin's
    option is a keyword under its flag's name (``batch_size=36``), and ``executor="serial"`` or an executor's
    option (``workers=N``) choose where jobs run (results do not depend on either). Every argument is checked
    before any file is written: a bad one raises TenasError naming it. ``out`` is the run file (default:
    ``runs/<settings>.h5``): a finished run there with the same settings is returned without recomputing, one
    with other settings is refused.
    """
    from tenas_kit import lifecycle

    return lifecycle.search(config, out, plugins, reporter, resume, **overrides)


def rank(config=None, archs=None, archs_file=None, sample=None, every=False, store=None, out=None, shard=None,
         plugins=(), reporter=None, resume=False, labels=None, ranker=None, **overrides):
    """Score architectures on their own networks and rank them by weighted rank sum; returns a ranker.Ranking.

    Give exactly one of ``archs`` (texts), ``archs_file``, ``sample`` (drawn with the seed) or ``every``;
    other keywords are those of ``search``.
    ``store`` is the HDF5 score store (default ``~/.cache/tenaskit/scores.h5``): scores there are reused.
    ``out`` (.csv or .json) receives the ranking; None writes none. ``labels`` (``"FILE[:COLUMN]"`` or
    ``{architecture: value}``, higher is better) ranks by what ``ranker`` (default: the first registered)
    learns from them, as ``rank --labels`` does.
    """
    from tenas_kit import lifecycle

    store = lifecycle.DEFAULT_STORE if store is None else store
    return lifecycle.rank(config, archs, archs_file, sample, every, store, out, shard, plugins, reporter, resume,
                          labels, ranker, **overrides)


def train(arch=None, space=None, run=None, data=None, reporter=None, **settings):
    """Train a cell, or finish an interrupted training; returns a training.lifecycle.TrainResult.

    The cell is ``run`` (a run file's found architecture) or ``arch`` (its text, or a file holding it) of
    ``space`` (default: the one space that reads it). ``data`` as ``--data`` takes it; ``dataset``, ``recipe``
    (default: the space's), ``seed``, ``device``, ``precision``, ``subset``, ``holdout``, ``export`` (paths
    ending in .pt or .onnx) and ``out`` (default: ``runs/train-<settings>.h5``) as the command's options; any
    recipe field as a keyword, e.g. ``epochs=3``. A finished file with the same settings is returned as it is;
    ``OUT.partial`` resumes, to the result an unbroken run gives.
    """
    from tenas_kit.training import lifecycle

    return lifecycle.train(arch, reporter, space=space, run=run, data=data, **settings)


def benchmark_table(spec=None, space="nb201", plugins=()):
    """A benchmark table of ``space``'s cells, as ``--benchmark`` opens it: a registered name, a CSV path, or
    None for the space's own table (None when it has none). Returns a ``tenas_kit.benchmark.Table``:
    ``.metrics``, ``.lookup(cell) -> {metric: value}``, ``.value(cell, metric)``, ``.column(metric)``, ``.space``.
    """
    from tenas_kit.analysis.accuracy import open_table
    from tenas_kit.plugins import registry

    reg = registry(plugins)
    return open_table(spec, reg.get("space", space), reg)[0]


__all__ = ["SearchConfig", "TenasError", "benchmark_table", "rank", "search", "train", "__version__"]
