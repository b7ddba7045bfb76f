"""The run layer: the API and the commands share naming, finished and interrupted runs, executors, options."""

import csv
import os

import h5py
import pytest

import tenas_kit
from conftest import call
from tenas_kit import SearchConfig
from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.runfile import read

SMALL = {"batch_size": 6, "region_samples": 64}
CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
]
TINY_CLI = ["--data", "synthetic", "--repeats", "1", "--batch-size", "6", "--region-samples", "64"]


def config(**changes):
    return SearchConfig(**{"data": "synthetic", "repeats": 1, "seed": 5, "options": dict(SMALL), **changes})


def test_the_api_returns_a_finished_run_without_recomputing_it(tmp_path, registry):
    out = tmp_path / "run.h5"
    first = tenas_kit.search(config(), out=out, workers=1)
    assert not first.finished_before
    stamp = os.stat(out).st_mtime_ns
    again = tenas_kit.search(config(), out=out, workers=1)
    assert again.finished_before and again.architecture == first.architecture
    assert os.stat(out).st_mtime_ns == stamp  # not rewritten


def test_the_api_refuses_to_overwrite_a_finished_run_with_other_settings(tmp_path, registry):
    out = tmp_path / "run.h5"
    tenas_kit.search(config(), out=out, workers=1)
    before = out.read_bytes()
    with pytest.raises(TenasError, match="finished run with other settings"):
        tenas_kit.search(config(seed=6), out=out, workers=1)
    assert out.read_bytes() == before


def test_the_api_names_its_run_file_as_the_command_does(tmp_path, registry, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    result = tenas_kit.search(config(), workers=1)
    assert result.path.parent.name == "runs" and result.path.is_file()
    code, out, _ = call(capsys, "run", "--seed", "5", *TINY_CLI, "--workers", "1")
    assert code == 0 and f"already searched: {result.path}" in out  # same settings, same name: not redone


def test_a_run_file_records_the_ops_each_round_pruned(tmp_path, registry):
    arch, path = tenas_kit.search(config(), out=tmp_path / "run.h5", workers=1)
    run = read(path)
    for rnd in run["rounds"]:
        flags = rnd["columns"]["removed"]
        assert rnd["pruned"] == [label for label, gone in zip(rnd["labels"], flags) if gone]
        assert rnd["pruned"]
    assert run["format_version"] == 3


def test_a_run_file_from_a_newer_format_is_refused(tmp_path, registry):
    _, path = tenas_kit.search(config(), out=tmp_path / "run.h5", workers=1)
    with h5py.File(path, "a") as h5:
        h5.attrs["format_version"] = 99
    with pytest.raises(TenasRuntimeError, match="format version 99; this tenas-kit reads versions 1 to 3"):
        read(path)


def test_serial_and_process_executors_rank_bit_for_bit_alike(tmp_path, registry):
    serial = tenas_kit.rank(config(), archs=CELLS, store=tmp_path / "a.h5", out=tmp_path / "a.csv", executor="serial")
    pool = tenas_kit.rank(config(), archs=CELLS, store=tmp_path / "b.h5", out=tmp_path / "b.csv", workers=2)
    assert serial.computed == pool.computed == 3 * 2
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert not (tmp_path / "a.csv.partial").exists()


def test_the_api_ranking_equals_the_command(tmp_path, registry, capsys):
    tenas_kit.rank(config(), archs=CELLS, store=tmp_path / "api.h5", out=tmp_path / "api.csv", workers=1)
    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(CELLS))
    code, _, err = call(capsys, "rank", "--archs", archs, "--seed", "5", *TINY_CLI, "--workers", "1",
                        "--store", tmp_path / "cli.h5", "--out", tmp_path / "cli.csv")
    assert code == 0, err
    assert (tmp_path / "api.csv").read_text() == (tmp_path / "cli.csv").read_text()


def test_options_appear_only_on_the_commands_whose_plugins_use_them(capsys):
    _, run_help, _ = call(capsys, "run", "--help")
    _, rank_help, _ = call(capsys, "rank", "--help")
    assert "--prune-number" in run_help and "--prune-number" not in rank_help  # a pruner's option
    for option in ("--batch-size", "--ntk-mode", "--workers", "--region-samples"):
        assert option in run_help and option in rank_help


def test_an_option_of_a_plugin_the_command_does_not_use_is_a_usage_error(tmp_path, capsys):
    code, _, err = call(capsys, "rank", "--proxies", "synflow", "--ntk-mode", "fast", "--data", "synthetic",
                        "--sample", "2", "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv")
    assert code == 2 and "--ntk-mode (ntk_mode) belongs to no proxy or pruner this command uses" in err
    code, _, err = call(capsys, "rank", "--executor", "serial", "--workers", "2", "--data", "synthetic",
                        "--sample", "2", "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv")
    assert code == 2 and "--workers is not an option of executor 'serial'" in err


def test_a_plugins_options_reach_only_that_plugin(tmp_path, registry):
    cfg = SearchConfig(data="synthetic", repeats=1, proxies=[("ntk", 1.0), ("synflow", 1.0)],
                       options={"batch_size": 6, "ntk_mode": "fast", "proxy_network": "supernet"})
    _, path = tenas_kit.search(cfg, out=tmp_path / "run.h5", workers=1)
    settings = read(path)["settings"]
    assert settings["proxies"]["ntk"]["mode"] == "fast"
    assert settings["proxies"]["synflow"] == {"init": "pytorch", "network": "supernet", "bn": "eval"}
    assert settings["pruner"] == {"tenas": {"prune_number": 1}}


def test_an_unknown_executor_is_a_usage_error_naming_the_known_ones(tmp_path, capsys):
    code, _, err = call(capsys, "rank", "--executor", "rayy", "--data", "synthetic", "--sample", "2",
                        "--store", tmp_path / "s.h5", "--out", tmp_path / "r.csv")
    assert code == 2 and "unknown executor 'rayy'" in err and "process" in err and "serial" in err


def test_rank_needs_no_pruner(tmp_path, registry):
    ranking = tenas_kit.rank(config(pruner="no-such-pruner"), archs=CELLS[:1], store=None, out=tmp_path / "r.csv",
                             workers=1)
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert len(rows) == 1 and ranking.unique == 1


def test_a_proxy_receives_only_its_own_options_and_the_shared_ones(register_plugin):
    import click

    from conftest import plugin_offering
    from tenas_kit.lifecycle import Ranking

    class Echo:
        name, description, higher_is_better = "echo", "settings are the options it was given", True
        cli_options = [click.Option(["--echo-level"], type=int, default=None)]

        def settings(self, options, space_defaults):
            return dict(options)

        def prepare(self, ctx):
            return lambda mask: 0.0

    register_plugin(plugin_offering(register_proxies=[Echo()]), "echo")
    cfg = config(proxies=[("ntk", 1.0), ("echo", 1.0)], options={"batch_size": 6, "echo_level": 3, "init": "kaiming"})
    plan = Ranking(cfg, CELLS, store=None).plan
    settings = {proxy.name: s for proxy, _, s in plan.proxies}
    assert settings["echo"] == {"echo_level": 3, "init": "kaiming"}
    assert settings["ntk"]["batch_size"] == 6 and "echo_level" not in settings["ntk"]


def test_a_bad_executor_fails_before_any_file_is_written(tmp_path, capsys):
    out = tmp_path / "run.h5"
    code, _, err = call(capsys, "run", *TINY_CLI, "--executor", "nope", "--out", out)
    assert code == 2 and "unknown executor 'nope'" in err
    code, _, err = call(capsys, "run", *TINY_CLI, "--executor", "serial", "--workers", "2", "--out", out)
    assert code == 2 and "not an option of executor 'serial'" in err
    assert list(tmp_path.iterdir()) == []


def test_a_ranking_scorer_error_names_the_architecture_as_given(register_plugin):
    from conftest import plugin_offering

    class Fails:
        name, description, higher_is_better = "fails", "raises on every cell", True

        def settings(self, options, space_defaults):
            return {}

        def prepare(self, ctx):
            def score(mask):
                raise ValueError("boom")
            return score

    register_plugin(plugin_offering(register_proxies=[Fails()]), "fails")
    with pytest.raises(TenasRuntimeError, match=r"on \|nor_conv_3x3~0\|\+") as info:
        tenas_kit.rank(config(proxies=[("fails", 1.0)], options={}), archs=CELLS[:1], store=None, executor="serial")
    assert "boom" in str(info.value)
