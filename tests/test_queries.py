"""A search that spends queries: oracles, the answers in the run file, resuming, bad input."""

import h5py
import pytest

from conftest import call, plugin_offering
from tenas_kit import SearchConfig, search
from tenas_kit.errors import TenasError, TenasRuntimeError
from tenas_kit.h5content import content, differences
from tenas_kit.runfile import partial_path, read



def config(**changes):
    # One cheap proxy: what is tested is the queries, not the pruning.
    base = SearchConfig(data="synthetic", repeats=1, seed=3, proxies=[("params", 1.0)], executor="serial")
    for key, value in changes.items():
        setattr(base, key, value)
    return base


class Counting:
    """An oracle whose accuracy is a made-up function of the cell; it counts its calls and can be made to fail."""

    name = "counting"
    description = "counts its calls"
    space = "nb201"
    metrics = ("made_up", "other")

    def __init__(self):
        self.calls, self.fail_after, self.returns = [], None, None

    def measure(self, space, arch, metric, seed):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("the GPU fell over")
        self.calls.append(arch)
        if self.returns is not None:
            return self.returns
        return float(sum(10 + e for e, op in enumerate(space.parse(arch)) if op == "nor_conv_1x1"))


@pytest.fixture
def oracle(register_plugin):
    made = Counting()
    register_plugin(plugin_offering(register_oracles=[made]), "counting_plugin")
    return made


def test_no_queries_is_todays_search_bit_for_bit(tmp_path, registry):
    plain, _ = search(config(), out=tmp_path / "plain.h5")
    none, _ = search(config(), out=tmp_path / "none.h5", queries=0)
    assert plain == none
    assert differences(content(tmp_path / "plain.h5"), content(tmp_path / "none.h5")) == []
    assert "queries" not in read(tmp_path / "none.h5")


def test_answers_are_recorded_and_the_best_is_the_result(tmp_path, oracle):
    result = search(config(), out=tmp_path / "q.h5", queries=4, oracle="counting", store=tmp_path / "s.h5")
    run = read(result.path)
    answers = run["answers"]
    assert [a["arch"] for a in answers] == oracle.calls  # every call recorded, in the order asked
    assert answers[0]["arch"] == run["searched"]  # the pruning's cell is asked first
    assert len({a["arch"] for a in answers}) == 4
    assert result.architecture == max(answers, key=lambda a: a["answer"])["arch"] == run["architecture"]
    assert result.architecture != run["searched"]  # a better cell was found
    assert run["queries"]["oracle"] == "counting:made_up" and run["queries"]["queries"] == 4
    # With one query a step, a smaller budget asks the same cells first.
    fewer = search(config(), out=tmp_path / "q2.h5", queries=2, oracle="counting", store=tmp_path / "s.h5")
    assert [a["arch"] for a in read(fewer.path)["answers"]] == [a["arch"] for a in answers[:2]]


def test_a_failing_oracle_keeps_its_answers_and_a_resumed_search_never_asks_again(tmp_path, oracle):
    out = tmp_path / "q.h5"
    oracle.fail_after = 2
    with pytest.raises(TenasRuntimeError, match=r"failed on \|.*the GPU fell over.*2 answers kept.*rerun") as info:
        search(config(), out=out, queries=4, oracle="counting", store=tmp_path / "s.h5")
    assert "\n" not in str(info.value)
    with h5py.File(partial_path(out), "r") as h5:
        assert h5.attrs["queries_done"] == 2
    oracle.fail_after = None
    result = search(config(), out=out, queries=4, oracle="counting", store=tmp_path / "s.h5")
    answers = read(result.path)["answers"]
    assert len(answers) == 4 and len(oracle.calls) == 4  # the two answered before were not asked again
    assert [a["arch"] for a in answers] == oracle.calls


def test_an_oracle_that_returns_no_number_stops_the_search_naming_the_cell(tmp_path, oracle):
    oracle.returns = "high"
    with pytest.raises(TenasRuntimeError, match=r"returned 'high' for \|.*not a finite number.*0 answers kept"):
        search(config(), out=tmp_path / "q.h5", queries=3, oracle="counting", store=tmp_path / "s.h5")


def test_a_benchmark_table_serves_as_an_oracle(tmp_path, registry):
    from tenas_kit.oracle import choose

    space = registry.get("space", "nb201")
    chosen = choose(registry, "nb201:cifar100", space)
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    from tenas_kit.analysis.accuracy import open_table

    table, _ = open_table("nb201", space, registry)
    assert chosen.metric == "cifar100"
    assert chosen.oracle.measure(space, arch, "cifar100", 0) == table.value(arch, "cifar100")
    csv = tmp_path / "acc.csv"
    csv.write_text(f"arch,acc\n{arch},91.5\n")
    from_file = choose(registry, str(csv), space)
    assert from_file.oracle.measure(space, arch, from_file.metric, 0) == 91.5
    csv.write_text(f"arch,acc,other\n{arch},91.5,42.0\n")
    column = choose(registry, f"{csv}:other", space)  # FILE:COLUMN picks the column
    assert column.oracle.measure(space, arch, column.metric, 0) == 42.0


@pytest.mark.parametrize("settings, message", [
    ({"queries": -1, "oracle": "nb201"}, "--queries must be a whole number"),
    ({"queries": 3}, "--queries 3 needs --oracle"),
    ({"oracle": "nb201"}, "--oracle is asked nothing without --queries"),
    ({"queries": 3, "oracle": "nb20l"}, "unknown oracle 'nb20l'. Did you mean 'nb201'?"),
    ({"queries": 3, "oracle": "nb201:cifar11"}, "has no metric 'cifar11'. Did you mean 'cifar10'?"),
    ({"queries": 3, "oracle": "nope.csv"}, "oracle file 'nope.csv' does not exist"),
    ({"queries": 3, "oracle": "nb201", "query_batch": 0}, "--query-batch must be"),
])
def test_bad_query_settings_are_refused_before_any_work(tmp_path, registry, settings, message):
    with pytest.raises(TenasError, match=__import__("re").escape(message)):
        search(config(), out=tmp_path / "q.h5", **settings)
    assert not list(tmp_path.iterdir())


def test_run_and_show_list_every_query(tmp_path, capsys, oracle):
    out = tmp_path / "q.h5"
    code, stdout, _ = call(capsys, "run", "--data", "synthetic", "--repeats", "1", "--seed", "3", "--executor",
                           "serial", "--proxies", "params", "--queries", "3", "--oracle",
                           "counting:other", "--store", tmp_path / "s.h5", "--out", out)
    assert code == 0, stdout
    assert "queries: 3 of 3 to oracle counting:other" in stdout and "benchmark accuracy (nb201:cifar10)" in stdout
    code, shown, _ = call(capsys, "show", out)
    assert code == 0 and "oracle counting:other" in shown
    assert all(call_arch in shown for call_arch in oracle.calls)
    code, _, _ = call(capsys, "report", out)
    page = out.with_suffix(".html").read_text()
    assert code == 0 and "<h2>Queries</h2>" in page and "counting:other" in page
    assert all(call_arch in page for call_arch in oracle.calls)
    code, _, err = call(capsys, "run", "--data", "synthetic", "--queries", "-2", "--oracle", "nb201",
                        "--out", tmp_path / "bad.h5")
    assert code == 2 and err.count("\n") == 1 and "--queries must be" in err


class DataPath:
    """An oracle that uses the search's images: it answers 1 when it is handed their folder by an absolute path."""

    name, description, space, metrics, uses_data = "data_path", "is --data absolute", None, ("absolute",), True

    def measure(self, space, arch, metric, seed, data=None, dataset=None, options=None):
        from pathlib import Path

        return float(Path(data).is_absolute() and Path(data).is_dir())


def test_an_oracle_in_another_directory_finds_data_given_by_a_relative_path(tmp_path, monkeypatch, register_plugin):
    # A Ray worker runs in a directory of its own: the path must not depend on the command's.
    import numpy as np
    from PIL import Image

    register_plugin(plugin_offering(register_oracles=[DataPath()]), "data_path_plugin")
    for label in ("cat", "dog"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(4):
            pixels = np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / label / f"{i}.png")
    monkeypatch.chdir(tmp_path)
    result = search(config(data="imgs"), out="q.h5", queries=1, oracle="data_path", store="s.h5")
    assert [a["answer"] for a in read(result.path)["answers"]] == [1.0]
    assert read(result.path)["config"]["data"] == "imgs"  # the run records what was given
    (tmp_path / "imgs").rename(tmp_path / "synthetic")  # a folder named as a source: the name still wins
    named = search(config(data="synthetic"), out="n.h5", queries=1, oracle="data_path", store="s.h5")
    assert [a["answer"] for a in read(named.path)["answers"]] == [0.0]
