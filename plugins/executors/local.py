"""Sessions that run jobs on this machine."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from tenas_kit import jobs


class InlineSession:
    """Runs each job when ``completed`` reaches it, so the caller commits results as they come (a kill then
    loses only the job in flight)."""

    def __init__(self):
        import torch

        self.threads = torch.get_num_threads()

    def submit(self, job):
        return job

    def completed(self, handles):
        for job in list(handles):
            yield job, job()

    def close(self, cancel=False):
        import torch

        torch.set_num_threads(self.threads)
        jobs.forget()


class PoolSession:
    def __init__(self, workers):
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_worker_started)

    def submit(self, job):
        return self.executor.submit(job)

    def completed(self, handles):
        for future in as_completed(handles):
            yield future, future.result()

    def close(self, cancel=False):
        if not cancel:
            self.executor.shutdown()
            return
        # Stopping early: a running job may take many seconds and its result would be thrown away,
        # so the workers are stopped rather than waited for.
        self.executor.shutdown(wait=False, cancel_futures=True)
        terminate = getattr(self.executor, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
            return
        for process in list((getattr(self.executor, "_processes", None) or {}).values()):
            process.terminate()


def _worker_started():
    # Ctrl-C is the driver's to handle; workers just stop with the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
