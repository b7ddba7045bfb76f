"""A ranking's progress counts distinct cells (done when every proxy and repeat of it is scored) and shows
their rate; the ranker says which cells it still computes."""

import io
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
