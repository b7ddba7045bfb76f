"""Sessions that run jobs on this machine."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from tenas_kit import jobs, stopping
from tenas_kit.errors import TenasRuntimeError


class InlineSession:
    """Runs each job when ``completed`` reaches it, so the caller commits results as they come (a kill then
    loses only the job in flight)."""

    def submit(self, job):
        return job

    def completed(self, handles):
        for job in list(handles):
            yield job, job()

    def close(self, cancel=False):
        jobs.forget()


class PoolSession:
    def __init__(self, workers):
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_worker_started)
        self.processes = {}

    def submit(self, job):
        # The pool starts its workers (and its threads) inside submit: a stop signal must not land between a
        # worker's start and its recording, and each worker is born with stop signals blocked until it has
        # set its own (it would otherwise print a KeyboardInterrupt traceback while still importing).
        with stopping.deferred():
            future = self.executor.submit(job)
            self.processes.update(self.executor._processes or {})
        return future

    def completed(self, handles):
        try:
            for future in as_completed(handles):
                yield future, future.result()
        except BrokenProcessPool:
            raise TenasRuntimeError("a worker process of the pool died (killed, or out of memory); what finished "
                                    "is kept: rerun the same command to go on, with fewer --workers if memory "
                                    "ran out.") from None

    def close(self, cancel=False):
        if not cancel:
            self.executor.shutdown()
            return
        # Stopping early: a running job may take many seconds and its result would be thrown away, so the
        # workers are killed rather than waited for (shutdown alone lets them finish their jobs, and the
        # interpreter's exit then waits for that). SIGKILL, because a worker still starting holds SIGTERM back.
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in self.processes.values():
            if process.exitcode is None:
                process.kill()
        for process in self.processes.values():
            process.join(KILL_WAIT)


KILL_WAIT = 5.0  # seconds per killed worker; SIGKILL takes effect at once, so this is only a safety net


def _worker_started():
    # Ctrl-C reaches the whole foreground process group: it is the driver's to handle, and the driver ends
    # the workers. SIGTERM sent to a worker alone ends it at once (a worker holds nothing to save); the
    # driver then reports the broken pool. Both were blocked from the worker's start (see submit).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stopping.SIGNALS)
    _exit_with_parent()


def _exit_with_parent():
    """A driver killed with SIGKILL cannot stop its pool, whose workers would wait for jobs forever;
    each worker exits once it finds itself orphaned."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="tenaskit-parent-watch", daemon=True).start()
