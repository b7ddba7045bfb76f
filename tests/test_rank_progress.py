"""A ranking's progress counts distinct cells (done when every proxy and repeat of it is scored) and shows
their rate; the ranker says which cells it still computes."""

import io
import re
from types import SimpleNamespace

from rich.console import Console

from tenas_kit import SearchConfig, lifecycle
from tenas_kit.cli.progress import RankReporter, RateColumn

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
]


class Spy(lifecycle.Reporter):
    def __init__(self):
        self.cells, self.steps = None, []

    def cells_started(self, cells, remaining):
        self.cells = (cells, dict(remaining))

    def step(self, proxy, repeat, label):
        self.steps.append(label)


def test_the_ranker_names_the_cells_it_still_computes(tmp_path, registry):
    config = SearchConfig(proxies=[("params", 1.0), ("flops", 1.0)], data="synthetic", repeats=2, executor="serial")
    store = tmp_path / "s.h5"
    lifecycle.Ranking(config, CELLS[:2], store=store).run()
    spy = Spy()
    lifecycle.Ranking(config, CELLS, store=store).run(spy)
    assert spy.cells[0] == 3 and list(spy.cells[1].values()) == [2 * 2]  # two proxies, two repeats
    (label,) = spy.cells[1]
    assert spy.steps == [label] * 4


def test_a_cell_counts_once_all_its_scores_are_in():
    reporter = RankReporter(Console(file=io.StringIO(), width=120))
    reporter.ranking_started(14, 4)
    reporter.cells_started(7, {"a": 2, "b": 2, "c": 2, "d": 2, "e": 2})
    task = reporter.progress.tasks[0]
    assert (task.total, task.completed) == (7, 2)
    for label, done in (("a", 2), ("a", 3), ("b", 3), ("c", 3), ("b", 4)):
        reporter.step("params", 0, label)
        assert task.completed == done


def test_the_rate_is_in_cells():
    column = RateColumn()
    assert column.render(SimpleNamespace(finished_speed=None, speed=2.5)).plain == "2.5 cells/s"
    assert column.render(SimpleNamespace(finished_speed=None, speed=0.1)).plain == "6 cells/min"
    assert column.render(SimpleNamespace(finished_speed=None, speed=None)).plain == "-- cells/s"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def off_terminal(clock, every=30.0):
    out = io.StringIO()
    return out, RankReporter(Console(file=out, width=200), every=every, clock=clock)


def test_off_a_terminal_a_line_comes_every_twentieth_of_the_cells():
    clock = Clock()
    out, reporter = off_terminal(clock)
    reporter.ranking_started(40, 0)
    reporter.cells_started(40, {f"c{i}": 1 for i in range(40)})
    for i in range(4):
        clock.now += 2.0
        reporter.step("params", 0, f"c{i}")
    assert out.getvalue().splitlines() == [
        "ranked 2 of 40 cells (5%): 30 cells/min, about 1 min 16 s left",
        "ranked 4 of 40 cells (10%): 30 cells/min, about 1 min 12 s left",
    ]


def test_off_a_terminal_a_slow_ranking_still_reports_at_a_steady_pace():
    clock = Clock()
    out, reporter = off_terminal(clock, every=30.0)
    reporter.ranking_started(1000, 0)
    reporter.cells_started(1000, {f"c{i}": 2 for i in range(1000)})
    reporter.step("params", 0, "c0")
    clock.now += 29.0
    reporter.step("params", 1, "c0")  # a cell done, but neither 30 s nor 5% has passed
    assert out.getvalue() == ""
    clock.now += 2.0
    reporter.step("params", 0, "c1")  # 31 s: a line, though this step finished no cell
    assert out.getvalue().splitlines() == ["ranked 1 of 1000 cells (0%): 1.94 cells/min, about 8 h 36 min left"]


def test_on_a_terminal_the_bar_replaces_the_lines():
    clock = Clock()
    out = io.StringIO()
    reporter = RankReporter(Console(file=out, width=200, force_terminal=True), every=0.0, clock=clock)
    reporter.ranking_started(4, 0)
    reporter.cells_started(4, {f"c{i}": 1 for i in range(4)})
    reporter.step("params", 0, "c0")
    assert "ranked 1 of 4" not in out.getvalue()


def test_rank_in_a_log_prints_progress_lines(tmp_path, registry, capsys):
    from conftest import call

    code, out, err = call(capsys, "rank", "--proxies", "params", "--sample", "3", "--data", "synthetic",
                          "--repeats", "1", "--executor", "serial", "--store", tmp_path / "s.h5",
                          "--out", tmp_path / "r.csv")
    assert code == 0, err
    assert re.search(r"^ranked (\d) of \1 cells \(100%\): ", out, re.MULTILINE), out
