"""Live search progress on the terminal (rich)."""

import time

from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.text import Text

from tenas_kit.lifecycle import Reporter


class RichReporter(Reporter):
    def __init__(self, console):
        self.console = console
        self.started = time.perf_counter()
        self.progress = Progress(
            TextColumn("[bold]{task.fields[title]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console,
            transient=True,
            disable=not console.is_terminal,  # a log or a pipe gets the round lines, not a blank line per bar
        )
        self.task = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def round_started(self, round_index, candidates, steps):
        if self.task is not None:
            self.progress.remove_task(self.task)
        title = f"round {round_index + 1} ({len(candidates)} candidates)" if candidates else "final architecture"
        self.task = self.progress.add_task("", total=steps, title=title, detail="")

    def step(self, proxy, repeat, label):
        self.progress.update(self.task, advance=1, detail=f"{proxy} r{repeat + 1} {label}")

    def round_finished(self, round_index, candidates, decision, seconds):
        pruned = decision.pruned_labels(candidates)
        total = time.perf_counter() - self.started
        self.console.print(
            f"round {round_index + 1}: pruned {len(pruned)} in {seconds:.1f} s "
            f"(total {total:.1f} s){': ' + ', '.join(pruned) if pruned else ''}"
        )


class RateColumn(ProgressColumn):
    """Cells per second (rich's own rate columns speak of bytes)."""

    def render(self, task):
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("-- cells/s")
        return Text(f"{speed:.3g} cells/s" if speed >= 1 else f"{60 * speed:.3g} cells/min")


class RankReporter(Reporter):
    """A ranking's progress: distinct cells done of all asked for, the rate, and the time left (rich estimates
    both from the last half minute). A cell is done when every proxy and repeat of it is scored."""

    def __init__(self, console):
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]ranking"), BarColumn(), MofNCompleteColumn(), TextColumn("cells"), RateColumn(),
            TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), TextColumn("{task.fields[detail]}"), console=console, transient=True,
            disable=not console.is_terminal,
        )
        self.task = None
        self.remaining = None  # cell -> scores left; None until the ranker says which cells it computes

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def ranking_started(self, scores, cached):
        if cached:
            self.console.print(f"{cached} of {scores} scores found in the store")
        # Counted in scores until cells_started (a ranker that does not call it still shows progress).
        self.task = self.progress.add_task("", total=scores, completed=cached, detail="")

    def cells_started(self, cells, remaining):
        self.remaining = dict(remaining)
        self.progress.update(self.task, total=cells, completed=cells - len(self.remaining))

    def step(self, proxy, repeat, label):
        if self.task is None:
            return
        advance = 1
        if self.remaining is not None:
            left = self.remaining.get(label, 1) - 1
            advance = 0 if left > 0 else 1
            if left > 0:
                self.remaining[label] = left
            else:
                self.remaining.pop(label, None)
        self.progress.update(self.task, advance=advance, detail=f"{proxy} r{repeat + 1} {label}")
