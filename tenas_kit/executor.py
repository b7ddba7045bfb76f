"""The executor contract: where scoring jobs run.

The search loop and the batch ranker hand jobs to an executor session and take
results back as they finish; neither knows whether a job ran in this process,
in a local pool or on another machine. A job is a small picklable callable
(``tenas_kit.jobs.ScoreJob``): it names its data instead of carrying it, and
computes the same number wherever it runs.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Protocol


class Session(Protocol):
    """Jobs in flight on one executor, from ``open`` to ``close``."""

    def submit(self, job: Callable[[], Any]) -> Any:
        """Queue ``job``; returns a handle, hashable, that ``completed`` yields back."""

    def completed(self, handles: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """``(handle, job())`` for each handle as its job finishes, in any order; a job's exception is raised here."""

    def close(self, cancel: bool = False) -> None:
        """Release the workers. ``cancel``: stopping early (Ctrl-C, an error), so queued and running jobs are dropped."""


class Executor(Protocol):
    """An executor (``register_executors``), checked when its plugin loads (``tenas_kit.contract``)."""

    name: str
    description: str
    cli_options: list = ()  # click.Option list, added to run and rank; their values arrive in ``open``

    def open(self, options: dict, device: Any) -> Session:
        """A session for a search or ranking on ``device``; ``options`` holds the values of this executor's own
        ``cli_options``."""
