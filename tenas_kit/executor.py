"""The executor contract: where jobs run.

The search loop and the batch ranker hand jobs to an executor session and take
results back as they finish; neither knows whether a job ran in this process,
in a local pool or on another machine. A job is a small picklable callable
that takes no arguments: it names its data instead of carrying it, and
computes the same result wherever it runs. An executor runs it by calling it,
whatever its type: a scoring job (``tenas_kit.jobs.ScoreJob``) or any other,
such as an oracle's question (``tenas_kit.queries.OracleJob``). A scoring job
also carries ``setup`` (a ``tenas_kit.jobs.Setup``), which an executor may read
to batch the jobs of one search or to send its images to other machines; a
job without it is run as it is.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Protocol


class Session(Protocol):
    """Jobs in flight on one executor, from ``open`` to ``close``."""

    def submit(self, job: Callable[[], Any]) -> Any:
        """Queue ``job``, any picklable callable of no arguments; returns a handle, hashable, that ``completed``
        yields back."""

    def completed(self, handles: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """``(handle, job())`` for each handle as its job finishes, in any order; a job's exception is raised here."""

    def close(self, cancel: bool = False) -> None:
        """Release the workers. ``cancel``: stopping early (Ctrl-C, an error), so queued and running jobs are dropped."""


class Executor(Protocol):
    """An executor (``register_executors``), checked when its plugin loads (``tenas_kit.contract``).

    What it may assume of the jobs it is handed: they are independent (none reads what another wrote), so
    they may run in any order, at the same time, in any mix of processes, threads and machines, and again
    after a lost worker; each returns the same bits wherever it runs (same tenas-kit, PyTorch, plugins and
    images); and several may run on threads of one process at once. A job draws only from generators of its
    own, scores a network no other running job uses, and holds the process-wide PyTorch settings it needs
    (one intra-op thread, the oneDNN switch) while it runs: the last running job puts them back.
    """

    name: str
    description: str
    cli_options: list = ()  # click.Option list, added to run and rank; their values arrive in ``open``

    def open(self, options: dict, device: Any) -> Session:
        """A session for a search or ranking on ``device``; ``options`` holds the values of this executor's own
        ``cli_options``."""
