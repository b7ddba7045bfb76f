"""The arguments of a search or a ranking, checked once for both front ends.

The command line turns text into values and the Python API receives values; both hand them to these
checks (through the run layer, ``tenas_kit.lifecycle``) before anything is opened or written, so a bad
value is the same one-line ``TenasError``, naming the argument and how to fix it, whichever way it came,
and no file (a ``.partial``, a store, a results file) exists yet when it is refused. A plugin's option is
checked against the click type it declares, as the command line checks it; the API is stricter only in
that it takes values, not text: ``repeats="3"`` is refused where ``--repeats 3`` is parsed.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

from tenas_kit.errors import TenasError, TenasRuntimeError

# Far above any useful value: a typo is a usage error at once, not memory exhaustion later.
MAX_REPEATS = 1000
MAX_SAMPLE = 10_000_000
# Weights are relative, so bounding them costs nothing; far outside the bounds a weighted rank overflows to inf
# (1e308 x 2) or vanishes beside the other proxies' terms, and the ranking is lost.
WEIGHTS = (1e-6, 1e6)
INIT_SCHEMES = ("pytorch", "kaiming")  # the ``init`` option every proxy shares
DEVICES = ("auto", "cpu", "cuda")

# Keywords of the API whose command-line flag is spelt otherwise, or that have none.
FLAGS = {"archs_file": "--archs", "every": "--all", "plugins": "--plugin", "archs": None, "config": None,
         "options": None, "executor_options": None, "combine": None}


def label(name):
    """How a message names an argument: its flag, with the keyword where the two are spelt differently."""
    flag = FLAGS.get(name, "--" + name.replace("_", "-"))
    if flag is None:
        return name
    return flag if flag == "--" + name else f"{flag} ({name})"


def shown(value):
    """A value as a message quotes it: numbers as they print, anything else with its type."""
    plain = isinstance(value, numbers.Number) or value is None
    text = str(value) if plain else repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return text if plain else f"{text} ({type(value).__name__})"


def refuse(name, value, wanted):
    return TenasError(f"{label(name)}: got {shown(value)}; give {wanted}.")


def is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def whole(name, value, low, high=None):
    if not is_integer(value) or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of {low} or more"
        raise refuse(name, value, f"a whole number {span}")


def text(name, value, example, optional=False):
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise refuse(name, value, f"a name, e.g. {example!r}")


def choice(name, value, choices):
    if value not in choices or not isinstance(value, str):
        raise refuse(name, value, "one of " + ", ".join(choices))


def flag(name, value):
    if not isinstance(value, bool):
        raise refuse(name, value, "True or False")


def path(name, value, optional=True):
    if value is None and optional:
        return
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise refuse(name, value, "a file path (a str or a pathlib.Path)")


def mapping(name, value):
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise refuse(name, value, "a dict of option name -> value, e.g. {'batch_size': 36}")


# -- the settings of a run (SearchConfig) ---------------------------------------------------------------


def check_config(config):
    """Every field of a SearchConfig, by type and range (names are looked up when the run is planned)."""
    text("space", config.space, "nb201")
    check_proxies(config.proxies)
    text("pruner", config.pruner, "tenas", optional=True)
    text("data", config.data, "path/to/images")
    text("dataset", config.dataset, "cifar10")
    whole("seed", config.seed, 0)
    choice("device", config.device, DEVICES)
    whole("repeats", config.repeats, 1, MAX_REPEATS)
    mapping("options", config.options)
    if config.options.get("init") is not None:
        choice("init", config.options["init"], INIT_SCHEMES)
    text("executor", config.executor, "process")
    mapping("executor_options", config.executor_options)
    if not (callable(config.combine) or isinstance(config.combine, str) and config.combine):
        raise refuse("combine", config.combine, "a rule's name, e.g. 'rank_sum', or a callable rule")


def check_proxies(proxies, preset=None):
    """``[(name, weight)]``, each weight within WEIGHTS; ``preset`` names the preset whose plugin gave them."""
    if isinstance(proxies, (str, bytes)) or not isinstance(proxies, (list, tuple)):
        raise refuse("proxies", proxies, "a list of (name, weight) pairs, e.g. [('ntk', 1.0), ('regions', 0.5)]")
    if not proxies:
        raise TenasError("--proxies is empty; name at least one proxy, e.g. --proxies ntk,regions.")
    for item in proxies:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str) and item[0]):
            origin = f"preset '{preset}': " if preset else ""
            raise TenasError(f"{origin}proxies: {shown(item)} is not a (name, weight) pair, e.g. ('ntk', 1.0).")
        check_weight(*item, preset=preset)


def check_weight(proxy, weight, preset=None):
    """A weight that makes a ranking: a finite number within WEIGHTS (NaN fails every comparison)."""
    low, high = WEIGHTS
    if isinstance(weight, numbers.Real) and not isinstance(weight, bool) and low <= weight <= high:
        return
    origin, fix = (f"preset '{preset}': ", "fix its plugin") if preset else ("", f"e.g. {proxy}:0.5")
    raise TenasError(f"{origin}weight {shown(weight)} of proxy '{proxy}' must be positive and finite, "
                     f"from {low:g} to {high:g} (weights are relative); {fix}.")


def check_option(option, value):
    """The value of a plugin's option (a ``click.Option`` of its ``cli_options``), as its flag would take it."""
    import click

    if option.is_flag:
        return flag(option.name, value)
    description, accepts = expected(option.type)
    if not accepts(value):
        raise refuse(option.name, value, description)
    try:
        option.type.convert(value, option, None)
    except click.BadParameter as exc:
        raise TenasError(f"{label(option.name)}: {exc.message}") from None


def expected(kind):
    """``(what a value of the click type ``kind`` is, in words; whether a Python value is one)``: text such as
    '3' is what the command line parses, not a value the API takes."""
    import click

    def number(value):
        return isinstance(value, numbers.Real) and not isinstance(value, bool)

    bounds = f" in the range {kind._describe_range()}" if hasattr(kind, "_describe_range") else ""
    if isinstance(kind, click.types.IntParamType):
        return "a whole number" + bounds, is_integer
    if isinstance(kind, click.types.FloatParamType):
        return "a number" + bounds, number
    if isinstance(kind, click.Choice):
        return "one of " + ", ".join(map(str, kind.choices)), lambda value: isinstance(value, str)
    if isinstance(kind, click.Path):
        return "a file path", lambda value: isinstance(value, (str, os.PathLike))
    if isinstance(kind, click.types.StringParamType):
        return "text", lambda value: isinstance(value, str)
    return kind.name, lambda value: True  # a type of the plugin's own: its convert() judges


# -- what a ranking or a search reads and writes --------------------------------------------------------


def check_plugins(plugins):
    if isinstance(plugins, (str, bytes, os.PathLike)) or not isinstance(plugins, (list, tuple)):
        raise refuse("plugins", plugins, "a list of modules, .py files or directories, e.g. ['my_plugin.py']")
    for spec in plugins:
        path("plugins", spec, optional=False)


def check_selection(archs, archs_file, sample, every):
    """Which architectures a ranking scores (that exactly one is given is checked where they are chosen)."""
    if archs is not None:
        if isinstance(archs, (str, bytes)) or not isinstance(archs, (list, tuple)):
            raise refuse("archs", archs, "a list of architecture texts (for one, archs=[text])")
        for index, arch in enumerate(archs, start=1):
            if not isinstance(arch, str):
                raise TenasError(f"archs: item {index} is {shown(arch)}, not an architecture's text; give a list "
                                 f"of texts, e.g. ['|nor_conv_3x3~0|+|...'].")
    path("archs_file", archs_file)
    if sample is not None:
        whole("sample", sample, 1, MAX_SAMPLE)
    flag("every", every)


def check_shard(shard):
    if shard is None:
        return
    if not (isinstance(shard, (list, tuple)) and len(shard) == 2 and all(map(is_integer, shard))
            and 0 <= shard[0] < shard[1]):
        raise refuse("shard", shard, "(i, N) with 0 <= i < N, e.g. (0, 4) (on the command line: --shard 0/4)")


def check_out(name, out, writable):
    """``out`` names a file, not a folder; ``writable``: also that its folder (or the nearest one that exists,
    since missing folders are made) can be written, for an output written only once the work is done."""
    path(name, out)
    if out is None:
        return
    out = Path(out)
    if out.is_dir():
        raise TenasError(f"{label(name)} '{out}' is a directory; give a file path in it, e.g. '{out / 'results.csv'}'.")
    if not writable:
        return
    folder = next(p for p in (out.parent, *out.parent.parents) if p.exists())
    # A file is replaced through a new file in its folder; a device (/dev/stdout) is written in place.
    target = out if out.exists() and not out.is_file() else folder
    problem = ("is not a directory" if not folder.is_dir() else
               "is not writable" if not os.access(target, os.W_OK if target == out else os.W_OK | os.X_OK) else None)
    if problem:  # as a run file that cannot be written: a runtime error, found before the work instead of after
        raise TenasRuntimeError(f"cannot write results to '{out}': '{target}' {problem}; choose another "
                                f"{label(name)}.")


def environment_seconds(variable, default):
    """A duration from the environment, ``default`` when unset or empty; a value that is not one is named."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise TenasError(f"environment variable {variable}={raw!r} is not a number of seconds >= 0; set it to "
                         f"e.g. 5, or unset it.")
    return value
