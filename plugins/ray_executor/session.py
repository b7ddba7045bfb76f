"""A session on Ray: jobs go out as Ray tasks, a bounded number at a time, and come back as they finish.

A job is any picklable callable the session is given (a scoring job, an oracle's question); a worker calls
it. The driver (this process) stays the only writer of the score store and the run files: workers return
numbers, and the ranker or the search loop commits them here. Jobs wait on the driver until a slot in the
window is free, so the cluster's queue and the driver's table of tasks in flight stay the same size however
many jobs a ranking has. Consecutive jobs travel together in one task once their cost is known, so that a
proxy of milliseconds does not pay Ray's per-task overhead on every score.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import socket
import threading

from tenas_kit import jobs
from tenas_kit.errors import TenasError, TenasRuntimeError

try:
    from tenas_kit import stopping
except ImportError:  # a tenas-kit without SIGTERM handling: Ctrl-C alone stops a command
    stopping = None

from . import worker

EXTRA = "pip install 'tenas-kit[ray]'"
RETRIES = 3  # reruns of a task whose worker or node died; a job is pure, so a rerun gives the same numbers
TARGET_SECONDS = 0.2  # work per task once job times are known: long against Ray's overhead per task
MAX_CHUNK = 256  # jobs per task at most
SPREAD = 2  # tasks per CPU that the jobs still queued are cut into, so the last ones end together
CONNECT_SECONDS = 10  # to reach HOST:PORT, before Ray's own retries (minutes) would start
DATA_LIMIT = 2 * 2**30  # bytes of images sent through the object store; larger data must be shared


def connect(options, device):
    try:
        import ray
    except ImportError as exc:
        raise TenasError(f"the ray executor needs Ray, which is not installed ({exc}); {EXTRA}") from None
    owned = _init(ray, options, device)
    try:
        return RaySession(ray, options, device, owned)
    except BaseException:
        if owned:
            ray.shutdown()
        raise


def _init(ray, options, device):
    """Join the cluster or start a local instance; True when this session started the connection (and so
    ends it)."""
    address, cpus = options.get("ray_address"), options.get("ray_cpus")
    if ray.is_initialized():
        if address is not None or cpus is not None:
            raise TenasError("Ray is already initialised in this process; leave out --ray-address and --ray-cpus "
                             "(the session uses that connection).")
        return False
    if address is not None and cpus is not None:
        raise TenasError("--ray-cpus sets the CPUs of a local Ray instance; a cluster's CPUs are set on each node "
                         "(ray start --num-cpus). Leave out one of --ray-cpus and --ray-address.")
    settings = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        settings.update(address="local", num_cpus=cpus or _cpus(), include_dashboard=False)
    else:
        settings["address"] = _reachable(ray, address)
    # ray.init sets a SIGTERM handler that exits at once; tenas-kit's own (stopping.py) turns SIGTERM into
    # the same orderly stop as Ctrl-C, which cancels the tasks and keeps the finished scores.
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(**settings)
    except ConnectionError as exc:
        raise TenasRuntimeError(f"cannot join a Ray cluster at --ray-address {address}: {_first_line(exc)}; start "
                                f"one with `ray start --head`, or give its HOST:PORT (a cluster with token "
                                f"authentication also needs RAY_AUTH_MODE=token here).") from None
    except RuntimeError as exc:
        text = _first_line(exc)
        if "version mismatch" in str(exc).lower():
            raise TenasRuntimeError(
                f"the Ray cluster at {address} runs another Ray or Python version than this machine "
                f"({_versions(str(exc))}); install the same Ray and Python on the driver and every node.") from None
        raise TenasRuntimeError(f"cannot {'join' if address else 'start'} Ray: {text}") from None
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return True


def _cpus():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _reachable(ray, address):
    """``address`` checked to answer on its port; Ray itself would retry an unreachable one for minutes."""
    target = address
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address

            target = canonicalize_bootstrap_address("auto")
        except ConnectionError as exc:
            raise TenasRuntimeError(f"--ray-address auto found no Ray cluster ({_first_line(exc)}); start one with "
                                    f"`ray start --head`, give its HOST:PORT, or leave out --ray-address to "
                                    f"start a local instance.") from None
        except (ImportError, AttributeError):  # Ray moved its private helper: let ray.init find the cluster
            return address
        if target is None:
            raise TenasRuntimeError("--ray-address auto found no Ray cluster; start one with `ray start --head`, or "
                                    "leave out --ray-address to start a local instance.")
    host, sep, port = target.split("://")[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise TenasError(f"--ray-address '{address}' should read auto or HOST:PORT, e.g. 10.0.0.5:6379.")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TenasRuntimeError(f"cannot reach the Ray cluster at {target} ({reason}); start its head with `ray "
                                f"start --head --port {port}` or correct --ray-address.") from None
    return address if address == "auto" else target


def _first_line(exc):
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _versions(text):
    """'cluster Ray 2.9.0 Python 3.11.7, here Ray 2.10.0 Python 3.11.7' from Ray's multi-line mismatch text."""
    found = [line.strip() for line in text.splitlines() if line.strip().startswith(("Ray:", "Python:"))]
    if len(found) == 4:
        return f"cluster {found[0]} {found[1]}, here {found[2]} {found[3]}".replace(":", "")
    return _first_line(text)


def _setup(job):
    """The ``tenas_kit.jobs.Setup`` a scoring job shares with the others of its search, or None for any other
    job. Jobs of one setup cost alike, so they travel together once their cost is known, with the images it
    names; any other job (an oracle's question may take hours) travels alone, as an opaque callable."""
    return getattr(job, "setup", None)


class RaySession:
    def __init__(self, ray, options, device, owned):
        self.ray, self.owned = ray, owned
        self.shared_data = bool(options.get("ray_shared_data"))
        gpus = 1 if getattr(device, "type", str(device)) == "cuda" else 0
        resources = ray.cluster_resources()
        if gpus and not resources.get("GPU"):
            raise TenasRuntimeError("--device cuda, but the Ray cluster has no GPU; start its nodes with GPUs, or "
                                    "score on --device cpu.")
        self.cpus = max(1, int(resources.get("GPU" if gpus else "CPU", 1)))
        self.window = options.get("ray_window") or SPREAD * self.cpus
        self.task = ray.remote(worker.run).options(num_cpus=1, num_gpus=gpus, max_retries=RETRIES,
                                                   retry_exceptions=False, name="tenaskit-score")
        self.versions = worker.versions()
        self.queue = collections.deque()  # jobs not yet sent
        self.running = {}  # ObjectRef -> the jobs of that task
        self.finished = {}  # job -> values, done but not yet asked for
        self.images = {}  # fingerprint -> ObjectRef of the TravellingImages
        self.job_seconds = None  # running mean of a job's cost on a worker

    def submit(self, job):
        self.queue.append(job)
        return job

    def completed(self, handles):
        wanted = set(handles)
        for job in [job for job in self.finished if job in wanted]:
            wanted.discard(job)
            yield job, self.finished.pop(job)
        while wanted:
            self._dispatch()
            if not self.running:
                raise TenasRuntimeError("the ray executor was asked for jobs it was never given.")
            ready, _ = self._interruptible(self.ray.wait, list(self.running), num_returns=1)
            for ref in ready:
                chunk = self.running.pop(ref)
                values, seconds = self._interruptible(self._result, ref)
                if _setup(chunk[0]) is not None:
                    cost = seconds / len(chunk)
                    self.job_seconds = cost if self.job_seconds is None else 0.8 * self.job_seconds + 0.2 * cost
                for job, value in zip(chunk, values):
                    if job in wanted:
                        wanted.discard(job)
                        yield job, value
                    else:
                        self.finished[job] = value

    def close(self, cancel=False):
        try:
            if cancel:
                # Queued tasks are dropped and running ones end with their worker process; the cluster starts
                # fresh workers for whoever comes next.
                for ref in self._unfinished():
                    try:
                        self.ray.cancel(ref, force=True)
                    except Exception:  # a task that just finished cannot be cancelled; nothing is lost
                        pass
            self.queue.clear()
            self.running.clear()
            self.finished.clear()
            self.images.clear()
        finally:
            if self.owned:
                self.ray.shutdown()

    def _unfinished(self):
        """The running tasks whose results have not arrived. Cancelling a task whose reply is arriving races
        inside Ray's core worker, which then aborts the process (ray-project/ray#54846): a task that has ended
        is left alone, which narrows that window to the replies in flight."""
        running = list(self.running)
        if not running:
            return running
        try:
            _, waiting = self.ray.wait(running, num_returns=len(running), timeout=0, fetch_local=False)
        except Exception:  # noqa: BLE001 - the cluster may be gone; then cancel them all as before
            return running
        return waiting

    @staticmethod
    def _interruptible(call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except KeyboardInterrupt:
            # Ray's wait raises a KeyboardInterrupt of its own for whatever stop signal arrived during it;
            # the one tenas-kit recorded says which signal it was (SIGTERM exits 143, not 130).
            stop = stopping.received() if stopping is not None else None
            if isinstance(stop, KeyboardInterrupt):
                raise stop from None
            raise

    def _dispatch(self):
        while self.queue and len(self.running) < self.window:
            setup = _setup(self.queue[0])
            size = 1 if setup is None else self._chunk_size()
            chunk = [self.queue.popleft()]
            while self.queue and len(chunk) < size and _setup(self.queue[0]) is setup:
                chunk.append(self.queue.popleft())
            ref = self.task.remote(self.versions, worker.dumps(chunk), self._images(setup))
            self.running[ref] = chunk

    def _chunk_size(self):
        if self.job_seconds is None:
            return 1
        by_time = int(TARGET_SECONDS / max(self.job_seconds, 1e-6))
        by_spread = len(self.queue) // (SPREAD * self.cpus)
        return max(1, min(MAX_CHUNK, by_time, by_spread))

    def _images(self, setup):
        """The object-store reference of the images ``setup`` names, put there once per session; None when
        the workers open --data themselves."""
        if self.shared_data or setup is None or not setup.data:
            return None
        if setup.data not in self.images:
            images = jobs.images_of(setup)
            if images is None:
                return None
            self.images[setup.data] = self.ray.put(worker.travelling(images, setup.data, DATA_LIMIT))
        return self.images[setup.data]

    def _result(self, ref):
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, ImportError):
                raise TenasRuntimeError(f"a Ray worker cannot import what the job needs ({cause}); install the same "
                                        f"tenas-kit, torch and plugins on every node (docs/scale-out.md).") from None
            if isinstance(cause, Exception):
                raise cause from None
            raise TenasRuntimeError(f"a job failed on a Ray worker: {_first_line(exc)}") from None
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.ObjectLostError) as exc:
            runs = RETRIES + 1
            raise TenasRuntimeError(
                f"the Ray worker running one job died {runs} time{'s' * (runs > 1)} ({type(exc).__name__}: killed, out "
                f"of memory, or its node lost); the scores finished so far are kept: rerun the same command to go "
                f"on.") from None
        except exceptions.RayError as exc:
            raise TenasRuntimeError(f"Ray failed: {type(exc).__name__}: {_first_line(exc)}") from None
