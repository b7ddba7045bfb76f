"""The Python API checks what the command line checks: every argument of ``tenas_kit.rank()`` and
``search()`` (and of the SearchConfig they run) is refused with a TenasError naming it, before any file
exists; presets, plugin options and executor options work by keyword as their flags do on the command line."""

import csv
import math
import os

import click
import pytest

import tenas_kit
from conftest import call, plugin_offering
from tenas_kit import SearchConfig
from tenas_kit.errors import TenasError

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
OTHER = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
CHEAP = [("params", 1.0), ("flops", 1.0)]  # proxies that score in milliseconds
RANK = dict(archs=[CELL], proxies=CHEAP, data="synthetic", repeats=1, executor="serial", store="s.h5", out="r.csv")
SEARCH = dict(proxies=CHEAP, data="synthetic", repeats=1, executor="serial", out="run.h5")

LEFT_OUT = object()  # an argument of RANK or SEARCH that a case leaves out

# (id, the API function, its arguments changed from RANK or SEARCH, what the message must name)
CASES = [
    ("weight-negative", "rank", dict(proxies=[("params", -1.0)]), "weight -1.0 of proxy 'params'"),
    ("weight-nan", "rank", dict(proxies=[("params", math.nan), ("flops", 1.0)]), "weight nan of proxy 'params'"),
    ("weight-inf", "rank", dict(proxies=[("params", math.inf), ("flops", 1.0)]), "weight inf of proxy 'params'"),
    ("weight-huge", "rank", dict(proxies=[("params", 1e308), ("flops", 1.0)]), "weight 1e+308 of proxy 'params'"),
    ("weight-zero", "rank", dict(proxies=[("params", 0)]), "weight 0 of proxy 'params'"),
    ("weight-text", "rank", dict(proxies=[("params", "1")]), "weight '1' (str) of proxy 'params'"),
    ("proxies-text", "rank", dict(proxies="synflow"), "proxies"),
    ("proxies-unpaired", "rank", dict(proxies=[("params", 1.0, 2.0)]), "proxies"),
    ("proxies-empty", "rank", dict(proxies=[]), "--proxies is empty"),
    ("shard-out-of-range", "rank", dict(shard=(3, 2)), "--shard"),
    ("shard-text", "rank", dict(shard="0/2"), "--shard"),
    ("workers-0", "rank", dict(executor="process", workers=0), "--workers"),
    ("workers-text", "rank", dict(executor="process", workers="two"), "--workers"),
    ("workers-fraction", "rank", dict(executor="process", workers=1.5), "--workers"),
    ("executor-options-0", "rank", dict(executor="process", executor_options={"workers": 0}), "--workers"),
    ("executor-options-text", "rank", dict(executor_options="workers=2"), "executor_options"),
    ("batch-size-0", "rank", dict(proxies=[("ntk", 1.0)], options={"batch_size": 0}), "batch_size"),
    ("batch-size-text", "rank", dict(proxies=[("ntk", 1.0)], options={"batch_size": "8"}), "batch_size"),
    ("options-text", "rank", dict(options="batch_size=8"), "options"),
    ("init-unknown", "rank", dict(options={"init": "xavier"}), "init"),
    ("sample-negative", "rank", dict(archs=LEFT_OUT, sample=-1), "--sample"),
    ("sample-fraction", "rank", dict(archs=LEFT_OUT, sample=2.5), "--sample"),
    ("sample-text", "rank", dict(archs=LEFT_OUT, sample="10"), "--sample"),
    ("sample-huge", "rank", dict(archs=LEFT_OUT, sample=10**8), "--sample"),
    ("every-text", "rank", dict(archs=LEFT_OUT, every="yes"), "every"),
    ("seed-negative", "rank", dict(seed=-1), "--seed"),
    ("seed-text", "rank", dict(seed="0"), "--seed"),
    ("repeats-text", "rank", dict(repeats="3"), "--repeats"),
    ("repeats-0", "rank", dict(repeats=0), "--repeats"),
    ("repeats-huge", "rank", dict(repeats=10**9), "--repeats"),
    ("repeats-bool", "rank", dict(repeats=True), "--repeats"),
    ("data-number", "rank", dict(data=123), "--data"),
    ("space-number", "rank", dict(space=201), "--space"),
    ("dataset-none", "rank", dict(dataset=None), "--dataset"),
    ("device-unknown", "rank", dict(device="tpu"), "--device"),
    ("executor-number", "rank", dict(executor=1), "--executor"),
    ("combine-number", "rank", dict(combine=3), "combine"),
    ("archs-number", "rank", dict(archs=[123]), "archs"),
    ("archs-none", "rank", dict(archs=[None]), "archs"),
    ("archs-one-text", "rank", dict(archs=CELL), "archs"),
    ("archs-file-number", "rank", dict(archs=LEFT_OUT, archs_file=5), "archs_file"),
    ("config-text", "rank", dict(config="nb201"), "config"),
    ("store-number", "rank", dict(store=123), "--store"),
    ("out-number", "rank", dict(out=123), "--out"),
    ("out-a-directory", "rank", dict(out="folder"), "is a directory"),
    ("out-under-a-file", "rank", dict(out="a-file/r.csv"), "not a directory"),
    ("plugins-text", "rank", dict(plugins="mine.py"), "plugins"),
    ("resume-text", "rank", dict(resume="no"), "--resume"),
    ("unknown-setting", "rank", dict(threads=2), "unknown setting 'threads'"),
    ("preset-number", "rank", dict(proxies=LEFT_OUT, preset=1), "--preset"),
    ("preset-and-proxies", "rank", dict(preset="best"), "not both"),
    ("search-out-number", "search", dict(out=123), "--out"),
    ("search-out-a-directory", "search", dict(out="folder"), "is a directory"),
    ("search-seed-negative", "search", dict(seed=-1), "--seed"),
    ("search-weight-inf", "search", dict(proxies=[("params", math.inf)]), "weight inf of proxy 'params'"),
    ("search-repeats-huge", "search", dict(repeats=10**9), "--repeats"),
    ("search-pruner-number", "search", dict(pruner=1), "--pruner"),
    ("search-config-text", "search", dict(config="nb201"), "config"),
    ("search-plugins-text", "search", dict(plugins="mine.py"), "plugins"),
    ("search-unknown-setting", "search", dict(threads=2), "unknown setting 'threads'"),
]


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def workdir(tmp_path, monkeypatch, registry):
    """A directory holding only a folder and a file that some cases point at; nothing else may appear."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("not a directory")
    return tmp_path


@pytest.mark.parametrize("function, changes, named", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_argument_is_a_tenas_error_naming_it_before_any_file_exists(workdir, function, changes, named):
    arguments = {**(RANK if function == "rank" else SEARCH), **changes}
    arguments = {k: v for k, v in arguments.items() if v is not LEFT_OUT}
    before = tree(workdir)
    with pytest.raises(TenasError) as info:
        getattr(tenas_kit, function)(**arguments)
    assert named in str(info.value)
    assert "\n" not in str(info.value)
    assert tree(workdir) == before


def test_the_command_line_refuses_a_weight_in_the_same_words(workdir, capsys):
    # The same check serves both front ends: a weight the API refuses is refused by --proxies in the same words.
    with pytest.raises(TenasError) as info:
        tenas_kit.rank(**{**RANK, "proxies": [("params", math.inf), ("flops", 1.0)]})
    code, _, err = call(capsys, "rank", "--proxies", "params:inf,flops", "--data", "synthetic", "--archs", "a-file")
    assert code == 2 and str(info.value) in err


def test_a_bad_commit_interval_in_the_environment_is_named_before_any_file(workdir, monkeypatch):
    monkeypatch.setenv("TENASKIT_COMMIT_SECONDS", "abc")
    before = tree(workdir)
    with pytest.raises(TenasError, match="TENASKIT_COMMIT_SECONDS='abc'"):
        tenas_kit.rank(**RANK)
    assert tree(workdir) == before


# -- what the API now accepts, as the command line does --------------------------------------------------


def cheap_preset(**fields):
    class Cheap:
        name, description = "cheap", "params and flops, log ranks, two repeats"
        proxies, combine, options, repeats = CHEAP, "log_rank_sum", {}, 2

    preset = Cheap()
    for key, value in fields.items():
        setattr(preset, key, value)
    return preset


def test_rank_and_search_take_a_preset_as_the_command_does(workdir, register_plugin, capsys):
    register_plugin(plugin_offering(register_presets=[cheap_preset()]), "cheap")
    given = {k: v for k, v in RANK.items() if k not in ("proxies", "repeats")}
    api = tenas_kit.rank(preset="cheap", **{**given, "out": "api.csv", "archs": [CELL, OTHER]})
    (workdir / "archs.txt").write_text(f"{CELL}\n{OTHER}\n")
    code, _, err = call(capsys, "rank", "--preset", "cheap", "--data", "synthetic", "--executor", "serial",
                        "--store", "s.h5", "--out", "cli.csv", "--archs", "archs.txt")
    assert code == 0, err
    assert (workdir / "api.csv").read_text() == (workdir / "cli.csv").read_text()
    assert api.computed == 2 * 2 * 2  # two cells, two proxies, the preset's two repeats
    from tenas_kit.lifecycle import configure

    searched = configure(preset="cheap", repeats=1, pruner="tenas")
    assert (searched.proxies, searched.combine, searched.repeats) == (CHEAP, "log_rank_sum", 1)  # repeats given wins
    best = configure(preset="best")
    assert [n for n, _ in best.proxies] == ["meco", "swap"] and best.repeats == 1 and best.combine == "log_rank_sum"
    result = tenas_kit.search(preset="cheap", data="synthetic", executor="serial", out="run.h5", repeats=1)
    from tenas_kit.runfile import read

    assert read(result.path)["config"]["combine"] == "log_rank_sum"


def test_a_presets_weights_are_checked_from_the_api_and_the_command_line(workdir, register_plugin, capsys):
    register_plugin(plugin_offering(register_presets=[cheap_preset(name="wild", proxies=[("params", math.inf)])]),
                    "wild")
    with pytest.raises(TenasError, match="preset 'wild': weight inf of proxy 'params'"):
        tenas_kit.rank(preset="wild", archs=[CELL], data="synthetic", store="s.h5")
    code, _, err = call(capsys, "rank", "--preset", "wild", "--data", "synthetic", "--sample", "2", "--store", "s.h5")
    assert code == 2 and "preset 'wild': weight inf of proxy 'params'" in err
    assert tree(workdir) == ["a-file", "folder"]


class Threaded:
    """An executor with an option of its own, which the core does not know by name."""

    name, description = "threaded", "every job in this process; records the options it was opened with"
    cli_options = [click.Option(["--threads"], type=click.IntRange(1, 8), default=None)]
    opened = []

    def open(self, options, device):
        from tenaskit_builtins.executors.local import InlineSession

        self.opened.append(options)
        return InlineSession()


def test_an_executors_option_is_a_keyword_like_workers(workdir, register_plugin):
    register_plugin(plugin_offering(register_executors=[Threaded()]), "threaded")
    Threaded.opened.clear()
    tenas_kit.rank(**{**RANK, "executor": "threaded", "threads": 2})
    tenas_kit.rank(**{**RANK, "executor": "threaded", "executor_options": {"threads": 3}, "out": "b.csv"})
    assert Threaded.opened == [{"threads": 2}, {"threads": 3}]
    with pytest.raises(TenasError, match="--threads"):
        tenas_kit.rank(**{**RANK, "executor": "threaded", "threads": 0, "out": "c.csv"})
    with pytest.raises(TenasError, match="--threads is not an option of executor 'serial'"):
        tenas_kit.rank(**{**RANK, "threads": 2, "out": "c.csv"})
    assert not (workdir / "c.csv").exists()


def test_a_plugins_option_is_a_keyword_as_its_flag_is_on_the_command_line(registry):
    from tenas_kit.lifecycle import configure

    config = configure(SearchConfig(options={"init": "kaiming"}), batch_size=6, workers=2)
    assert config.options == {"init": "kaiming", "batch_size": 6}
    assert config.executor_options == {"workers": 2}


def test_the_api_caps_repeats_as_the_command_line_does(registry):
    from tenas_kit.arguments import MAX_REPEATS
    from tenas_kit.cli import limits

    assert limits.REPEATS.max == MAX_REPEATS
    with pytest.raises(TenasError, match="--repeats: got 1001; give a whole number from 1 to 1000"):
        tenas_kit.rank(**{**RANK, "repeats": MAX_REPEATS + 1, "store": None, "out": None})


def test_rank_csv_rows_are_unchanged_by_the_checks(workdir):
    # Valid arguments pass through untouched: the weights the user gave reach the rule as given.
    ranking = tenas_kit.rank(**{**RANK, "archs": [CELL, OTHER], "proxies": [("params", 2.0), ("flops", 0.5)]})
    rows = list(csv.DictReader(open("r.csv")))
    assert [float(r["rank_sum"]) for r in rows] == sorted(ranking.rank_sum.tolist())
    assert os.path.exists("s.h5")


def test_an_out_whose_folder_cannot_be_written_is_refused_before_the_ranking(workdir, monkeypatch):
    from tenas_kit import arguments

    # Permissions do not bind root, whom tests may run as: the folder is made unwritable where it is asked.
    monkeypatch.setattr(arguments.os, "access", lambda path, mode: os.path.basename(path) != "locked")
    (workdir / "locked").mkdir()
    before = tree(workdir)
    with pytest.raises(TenasError, match="cannot write results to 'locked/new/r.csv': 'locked' is not writable"):
        tenas_kit.rank(**{**RANK, "out": "locked/new/r.csv"})
    assert tree(workdir) == before
