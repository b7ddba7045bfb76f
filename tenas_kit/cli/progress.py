"""Live search progress on the terminal (rich), and progress lines where there is no terminal."""

import time

from rich.markup import escape
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
        self.progress.update(self.task, advance=1, detail=escape(f"{proxy} r{repeat + 1} {label}"))

    def round_finished(self, round_index, candidates, decision, seconds):
        pruned = decision.pruned_labels(candidates)
        total = time.perf_counter() - self.started
        self.console.print(
            f"round {round_index + 1}: pruned {len(pruned)} in {seconds:.1f} s "
            f"(total {total:.1f} s){': ' + ', '.join(pruned) if pruned else ''}", markup=False
        )

    def query_answered(self, answered, queries, arch, value):
        self.console.print(f"query {answered}/{queries}: {value:.4g} {arch}", markup=False, soft_wrap=True)


class RateColumn(ProgressColumn):
    """Cells per second (rich's own rate columns speak of bytes)."""

    def render(self, task):
        return Text(rate(task.finished_speed or task.speed))


def rate(speed):
    if not speed:
        return "-- cells/s"
    return f"{speed:.3g} cells/s" if speed >= 1 else f"{60 * speed:.3g} cells/min"


def duration(seconds):
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


# Off a terminal: a line every PACE_SECONDS, or every PACE_SHARE of the cells, whichever comes first.
PACE_SECONDS = 30.0
PACE_SHARE = 0.05


class ProgressLines:
    """A ranking's progress where no bar can show (a log file, a batch job, a cluster's driver): one line at a
    steady pace, with the cells done, their rate since the start and the time left, as ``run`` prints one per
    round. ``clock`` is the time source (tests pass their own)."""

    def __init__(self, console, every=PACE_SECONDS, clock=time.monotonic):
        self.console, self.every, self.clock = console, every, clock
        self.total = 0

    def start(self, done, total):
        self.total, self.first, self.shown = total, done, done
        self.started = self.last = self.clock()

    def update(self, done):
        now = self.clock()
        if not self.total or (done - self.shown < PACE_SHARE * self.total and now - self.last < self.every):
            return
        self.last, self.shown = now, done
        speed = (done - self.first) / (now - self.started) if now > self.started else 0
        left = f", about {duration((self.total - done) / speed)} left" if speed and done < self.total else ""
        self.console.print(f"ranked {done} of {self.total} cells ({100 * done / self.total:.0f}%): {rate(speed)}"
                           f"{left}", markup=False, highlight=False)


class RankReporter(Reporter):
    """A ranking's progress: distinct cells done of all asked for, the rate, and the time left (rich estimates
    both from the last half minute), as a bar on a terminal and as ``ProgressLines`` elsewhere. A cell is done
    when every proxy and repeat of it is scored."""

    def __init__(self, console, every=PACE_SECONDS, clock=time.monotonic):
        self.console = console
        self.lines = None if console.is_terminal else ProgressLines(console, every, clock)
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
        if self.lines is not None:
            self.lines.start(cached, scores)

    def cells_started(self, cells, remaining):
        self.remaining = dict(remaining)
        self.progress.update(self.task, total=cells, completed=cells - len(self.remaining))
        if self.lines is not None:
            self.lines.start(cells - len(self.remaining), cells)

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
        self.progress.update(self.task, advance=advance, detail=escape(f"{proxy} r{repeat + 1} {label}"))
        if self.lines is not None:
            self.lines.update(int(self.progress.tasks[0].completed))  # the reporter's only task
