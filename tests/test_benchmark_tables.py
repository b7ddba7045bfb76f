"""Benchmark tables, a plugin kind (issue 24): nb201's shipped table, lookup by cell, third-party tables, and
``--benchmark NAME[:COLUMN]`` on the commands."""

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

from conftest import NB201_TABLE, ROOT, call, needs_shared, plugin_offering
from tenas_kit.analysis.accuracy import open_table
from tenas_kit.benchmark import Table

SHIPPED = ROOT / "plugins" / "nb201" / "accuracy.csv.gz"
METRICS = ("cifar10", "cifar100", "imagenet16-120")
BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
# Two cells of one function: node 3 adds only the input (node 1 feeds nothing), so the op on 1<-0 is dead.
DEAD_CONV = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
DEAD_POOL = "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
GENOTYPE = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('dil_conv_3x3', 2), "
            "('max_pool_3x3', 1), ('sep_conv_5x5', 3), ('avg_pool_3x3', 0), ('skip_connect', 4)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 0), ('dil_conv_5x5', 2), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('avg_pool_3x3', 3)], reduce_concat=[2, 3, 4, 5])")


def shipped_rows():
    """The shipped file read directly, not through the plugin: the independent side of the checks below."""
    with gzip.open(SHIPPED, "rt", newline="") as handle:
        return {row["arch"]: {m: float(row[m]) for m in METRICS} for row in csv.DictReader(handle)}


@pytest.fixture
def nb201_table(registry):
    return open_table(None, registry.get("space", "nb201"), registry)


class Measured:
    """A third party's table: 12-epoch accuracies of two nb201 cells."""

    name, space, metrics = "mine", "nb201", ("val12", "val200")
    description = "made-up measurements"

    def load(self):
        return {BEST: {"val12": 80.5, "val200": 90.25}, DEAD_CONV: {"val12": 11.0}}


def test_the_shipped_table_is_small_and_holds_every_cell_once_on_every_metric(nb201_table):
    table, shown = nb201_table
    assert SHIPPED.stat().st_size < 1_000_000
    assert table.metrics == shown == METRICS and table.space.name == "nb201"
    every = {table.space.format(a) for a in table.space.enumerate()}
    for metric in METRICS:
        column = table.column(metric)
        assert set(column) == every and len(column) == 15625
        assert all(0 <= v <= 100 for v in column.values())


def test_the_shipped_table_reaches_the_published_best_of_each_data_set(nb201_table):
    """NAS-Bench-201's best cells reach 94.37 / 73.51 / 47.31 (shared/spec/TENAS.md): a column read into
    the wrong metric shows here, and cifar100 and imagenet16-120 have no other independent check."""
    table, _ = nb201_table
    best = {m: round(max(table.column(m).values()), 2) for m in METRICS}
    assert best == {"cifar10": 94.37, "cifar100": 73.51, "imagenet16-120": 47.31}
    assert table.lookup(BEST) == shipped_rows()[BEST]


@needs_shared
def test_the_shipped_table_agrees_with_the_shared_cifar10_table_on_every_cell(nb201_table):
    table, _ = nb201_table
    with open(NB201_TABLE, newline="") as handle:
        shared = {row["arch"]: float(row["cifar10_test_acc"]) for row in csv.DictReader(handle)}
    assert len(shared) == 15625
    # The shared table rounds to 4 decimals; the shipped one keeps NATS-Bench's float64.
    assert max(abs(table.value(arch, "cifar10") - acc) for arch, acc in shared.items()) <= 0.5e-4


def test_an_isomorphic_cell_the_table_lacks_finds_the_row_of_its_class(registry, tmp_path):
    space = registry.get("space", "nb201")
    assert space.canonical(space.parse(DEAD_CONV)) == space.canonical(space.parse(DEAD_POOL))
    csv_file = tmp_path / "one.csv"
    csv_file.write_text(f"arch,acc\n{DEAD_CONV},42.5\n")
    table, metrics = open_table(csv_file, space, registry)
    assert table.lookup(DEAD_POOL) == {"acc": 42.5} and table.value(f"  {DEAD_POOL} ", "acc") == 42.5
    assert table.lookup(BEST) is None


def test_an_isomorphic_darts_genotype_spelt_in_another_order_finds_the_same_row(registry, tmp_path):
    space = registry.get("space", "darts")
    swapped = GENOTYPE.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1)", "('sep_conv_3x3', 1), ('sep_conv_3x3', 0)")
    assert space.format(space.parse(swapped)) != space.format(space.parse(GENOTYPE))
    csv_file = tmp_path / "darts.csv"
    csv_file.write_text('arch,acc\n"' + GENOTYPE + '",97.1\n')
    table, _ = open_table(csv_file, space, registry)
    assert table.value(swapped, "acc") == 97.1


def test_isomorphic_cells_the_table_holds_keep_their_own_rows(nb201_table):
    """NAS-Bench-201 trained isomorphic cells separately: each is looked up under its own row."""
    table, _ = nb201_table
    rows = shipped_rows()
    assert rows[DEAD_CONV] != rows[DEAD_POOL]
    assert table.lookup(DEAD_CONV) == rows[DEAD_CONV] and table.lookup(DEAD_POOL) == rows[DEAD_POOL]


def test_a_lacking_cell_gets_the_mean_of_the_isomorphic_rows(registry):
    space = registry.get("space", "nb201")
    source = Measured()
    source.load = lambda: {DEAD_CONV: {"val12": 10.0}, DEAD_POOL: {"val12": 20.0, "val200": 30.0}}
    other = "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert Table(source, space).lookup(other) == {"val12": 15.0, "val200": 30.0}


def test_a_third_party_table_registered_through_the_hook_is_listed_and_used(register_plugin, tmp_path, capsys):
    registry = register_plugin(plugin_offering(register_benchmarks=[Measured()]), "measured")
    assert registry.get("benchmark", "mine").metrics == ("val12", "val200")
    code, out, err = call(capsys, "plugins")
    assert code == 0 and "mine" in out and "made-up measurements" in out, err
    table, metrics = open_table("mine:val12", registry.get("space", "nb201"), registry)
    assert metrics == ("val12",) and table.value(DEAD_POOL, "val12") == 11.0
    # The built-in registered first, so nb201's own table stays the default.
    assert open_table(None, registry.get("space", "nb201"), registry)[0].name == "nb201"


@pytest.mark.parametrize("members, reason", [
    ({"space": "nb201"}, "without metrics (the contract: tenas_kit.benchmark.Benchmark)"),
    ({"space": "nb201", "metrics": "cifar10"}, "metrics must be a non-empty tuple of distinct names"),
    ({"space": "nb201", "metrics": ("a:b",)}, "metrics must be a non-empty tuple of distinct names without ':'"),
    ({"space": None, "metrics": ("top1",)}, "space must name a search space"),
])
def test_a_malformed_benchmark_is_a_broken_plugin_at_load(register_plugin, members, reason):
    bad = type("Bad", (), {"name": "bad", "description": "malformed", "load": lambda self: {}, **members})()
    registry = register_plugin(plugin_offering(register_benchmarks=[bad]), "bad_plugin")
    assert "bad" not in registry.names("benchmark")
    reasons = [b.reason for b in registry.broken if b.plugin == "bad_plugin"]
    assert len(reasons) == 1 and reason in reasons[0], reasons


@pytest.mark.parametrize("loaded, fragment", [
    ([BEST], "load() returned list, not a dict of architecture text -> {metric: value}"),
    ({BEST: {"top5": 1.0}}, "is not architecture text -> {metric: value} over its metrics val12, val200"),
    ({BEST: {"val12": "high"}}, "holds a value that is not a number"),
    (OSError("disk gone"), "could not be loaded: OSError: disk gone"),
])
def test_a_table_that_loads_wrong_rows_is_a_runtime_error_of_one_line(register_plugin, tmp_path, capsys, loaded,
                                                                       fragment):
    def load():
        if isinstance(loaded, Exception):
            raise loaded
        return loaded

    source = Measured()
    source.load = load
    register_plugin(plugin_offering(register_benchmarks=[source]), "measured")
    code, _, err = call(capsys, "correlate", ranking(tmp_path, [BEST, DEAD_CONV, DEAD_POOL]), "--benchmark", "mine")
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "benchmark 'mine'" in lines[0] and fragment in lines[0], err


def test_the_api_opens_a_table_as_the_command_line_does(registry):
    import tenas_kit

    assert tenas_kit.benchmark_table().lookup(BEST) == shipped_rows()[BEST]
    assert tenas_kit.benchmark_table(space="darts") is None


def ranking(tmp_path, archs):
    path = tmp_path / "ranking.csv"
    path.write_text("rank,arch,rank_sum,params\n" + "".join(f"{i + 1},{a},{i},{len(archs) - i}\n"
                                                           for i, a in enumerate(archs)))
    return path


def test_correlate_without_benchmark_uses_the_spaces_table(registry, tmp_path, capsys):
    space = registry.get("space", "nb201")
    every = space.enumerate()
    archs = [space.format(every[i]) for i in np.random.default_rng(0).choice(len(every), 11, replace=False)]
    rows = shipped_rows()
    code, out, err = call(capsys, "correlate", ranking(tmp_path, archs), "--resamples", 100)
    assert code == 0, err
    assert "correlation with nb201:cifar10 (11 architectures" in out
    tau = kendalltau([len(archs) - i for i in range(len(archs))], [rows[a]["cifar10"] for a in archs]).statistic
    assert f"{tau:.3f}" in out
    code, out, err = call(capsys, "correlate", ranking(tmp_path, archs), "--resamples", 100,
                          "--benchmark", "nb201:imagenet16-120")
    tau = kendalltau([len(archs) - i for i in range(len(archs))], [rows[a]["imagenet16-120"] for a in archs]).statistic
    assert code == 0 and "correlation with nb201:imagenet16-120" in out and f"{tau:.3f}" in out, err


@pytest.mark.parametrize("args, fragment", [
    (["--benchmark", "nb2O1"], "unknown benchmark 'nb2O1'. Did you mean 'nb201'?"),
    (["--benchmark", "nb201:cifar1O"], "benchmark 'nb201' has no column 'cifar1O'. Did you mean 'cifar10'?"),
    (["--benchmark-column", "top1"], "benchmark 'nb201' has no column 'top1'."),
    (["--benchmark", "nb201:cifar10", "--benchmark-column", "cifar100"], "name two columns; give one"),
    (["--benchmark", "nb201", "--space", "darts"], "benchmark 'nb201' holds cells of space 'nb201', not 'darts'"),
    (["--space", "darts"], "no benchmark table covers space 'darts'; give --benchmark FILE.csv"),
    (["--benchmark", "missing/table.csv"], "benchmark file 'missing/table.csv' does not exist"),
])
def test_a_bad_benchmark_is_one_line_and_exit_2(registry, tmp_path, capsys, args, fragment):
    code, out, err = call(capsys, "correlate", ranking(tmp_path, [BEST, DEAD_CONV, DEAD_POOL]), *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], err


def test_run_refuses_a_bad_benchmark_before_searching(registry, tmp_path, capsys):
    out = tmp_path / "run.h5"
    code, _, err = call(capsys, "run", "--data", "synthetic", "--repeats", "1", "--out", out,
                        "--benchmark", "nb201:top1")
    assert code == 2 and "has no column 'top1'" in err and not out.exists() and not Path(f"{out}.partial").exists()


def test_run_show_and_report_print_every_metric_of_the_spaces_table(registry, tmp_path, capsys):
    out = tmp_path / "run.h5"
    code, stdout, err = call(capsys, "run", "--data", "synthetic", "--repeats", "1", "--proxies", "params",
                             "--executor", "serial", "--out", out)
    assert code == 0, err
    arch = next(line.split(": ", 1)[1] for line in stdout.splitlines() if line.startswith("architecture: "))
    expected = [f"benchmark accuracy (nb201:{m}): {shipped_rows()[arch][m]:.2f}" for m in METRICS]
    assert [line for line in stdout.splitlines() if line.startswith("benchmark accuracy")] == expected
    code, stdout, err = call(capsys, "show", out)
    shown = [line for line in stdout.splitlines() if line.startswith("benchmark accuracy")]
    assert code == 0 and shown == expected, err
    code, stdout, err = call(capsys, "show", out, "--benchmark", "nb201:cifar100")
    assert code == 0 and [line for line in stdout.splitlines() if line.startswith("benchmark")] == expected[1:2], err
    code, stdout, err = call(capsys, "show", out, "--benchmark", "nb201:top1")
    assert code == 2 and stdout == "" and "has no column 'top1'" in err  # refused before anything is printed
    code, _, err = call(capsys, "report", out, "-o", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert code == 0 and f"nb201:cifar100: {shipped_rows()[arch]['cifar100']:.2f}" in page, err
