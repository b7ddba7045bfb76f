"""Live search progress on the terminal (rich)."""

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

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
        removed = ", ".join(candidates[i].label for i in decision.removed)
        total = time.perf_counter() - self.started
        self.console.print(
            f"round {round_index + 1}: pruned {len(decision.removed)} in {seconds:.1f} s "
            f"(total {total:.1f} s){': ' + removed if removed else ''}"
        )


class RankReporter(Reporter):
    """A ranking's progress: scores done of all asked for, rate and time left (rich computes both)."""

    def __init__(self, console):
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]ranking"), BarColumn(), MofNCompleteColumn(), TextColumn("scores"),
            TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn(), TextColumn("{task.fields[detail]}"), console=console, transient=True,
        )
        self.task = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def ranking_started(self, scores, cached):
        self.task = self.progress.add_task("", total=scores, completed=cached, detail="")
        if cached:
            self.console.print(f"{cached} of {scores} scores found in the store")

    def step(self, proxy, repeat, label):
        if self.task is not None:
            self.progress.update(self.task, advance=1, detail=f"{proxy} r{repeat + 1} {label}")
