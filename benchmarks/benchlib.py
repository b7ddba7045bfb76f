"""What every benchmark states besides its figures: the machine, what else used the CPU, the whole command's memory.

A figure in docs/benchmarks.md is only worth quoting with these next to it: the
same search takes twice as long on a slower CPU or beside other work, and a
search's memory is the sum of its processes (the driver and one worker per
core), not its largest process.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import statistics
import subprocess
import threading
import time
from pathlib import Path

GIB = 1024 ** 3
SAMPLE_SECONDS = 0.2
ROOT = Path(__file__).resolve().parents[1]


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def commit():
    """The checkout's commit, with '+changes' when the work tree differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_line():
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_model()}, "
            f"{os.cpu_count()} cores, commit {commit()}, load average before (1/5/15 min) {load}")


def busy_cpu_seconds():
    """CPU seconds the whole machine has spent busy since boot (None without /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in (fields + ["0"] * 8)[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """This process's CPU seconds and those of every descendant it has waited for."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


# Kernels without CONFIG_PROC_CHILDREN lack .../children: then every process's parent is read instead.
HAS_CHILDREN_FILES = Path(f"/proc/self/task/{os.getpid()}/children").exists()


def _children(pid):
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found.extend(int(x) for x in text.split())
    except OSError:
        pass
    return found


def _parents():
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    return parents


def process_tree(pid):
    """``pid`` and all its descendants."""
    children = _children if HAS_CHILDREN_FILES else _parents().get
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children(current) or ())
    return tree


def _memory(pid):
    """(resident bytes now, peak resident bytes so far) of one process, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    if "VmRSS" not in values:  # a zombie
        return None
    return values["VmRSS"], values.get("VmHWM", values["VmRSS"])


class TreeMemory(threading.Thread):
    """Samples a process and all its descendants every SAMPLE_SECONDS while it runs.

    ``peak`` is the largest sum of their resident sets seen in one sample (pages a
    worker shares with others count once per process); ``peak_each`` the sum of every
    process's own high-water mark, which also covers spikes between samples and
    bounds ``peak`` from above. Both are None where /proc is missing.
    """

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.available = Path(f"/proc/{pid}/status").exists()
        self.peak = 0 if self.available else None
        self.highs = {}
        self.stopping = threading.Event()

    def sample(self):
        total = 0
        for pid in process_tree(self.pid):
            memory = _memory(pid)
            if memory is not None:
                total += memory[0]
                self.highs[pid] = max(self.highs.get(pid, 0), memory[1])
        self.peak = max(self.peak, total)

    def run(self):
        while self.available and not self.stopping.is_set():
            self.sample()
            self.stopping.wait(SAMPLE_SECONDS)

    def stop(self):
        self.stopping.set()
        self.join()

    @property
    def peak_each(self):
        return sum(self.highs.values()) if self.available else None


class Measured:
    """One command's wall time, memory and the CPU it shared."""

    def __init__(self, seconds, memory, own_cpu, other_cpu, stdout, stderr):
        self.seconds, self.memory, self.stdout, self.stderr = seconds, memory, stdout, stderr
        self.own_cpu, self.other_cpu = own_cpu, other_cpu

    @property
    def peak_gib(self):
        return None if self.memory.peak is None else self.memory.peak / GIB

    def memory_text(self):
        if self.memory.peak is None:
            return "peak memory n/a (needs /proc)"
        return (f"peak memory {self.memory.peak / GIB:.2f} GiB summed over its processes "
                f"(per-process peaks sum to {self.memory.peak_each / GIB:.2f} GiB)")

    def cpu_text(self):
        own = f"{self.own_cpu:.0f} CPU s of its own"
        if self.other_cpu is None:
            return own
        return f"{own}; other processes used {self.other_cpu:.2f} of {os.cpu_count()} cores on average meanwhile"


def measure(command, env=None):
    """Run ``command`` to completion; raise with its error output if it fails."""
    busy, own = busy_cpu_seconds(), own_cpu_seconds()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    memory = TreeMemory(process.pid)
    memory.start()
    try:
        stdout, stderr = process.communicate()
    finally:
        memory.stop()
    seconds = time.perf_counter() - started
    own = own_cpu_seconds() - own
    other = None if busy is None else max(0.0, (busy_cpu_seconds() - busy - own) / seconds)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed with exit code {process.returncode}:\n{stderr}")
    return Measured(seconds, memory, own, other, stdout, stderr)


def mean_stdev(values, digits=2):
    """'mean +- sample standard deviation (statistics.stdev)', or the single value when there is one."""
    if len(values) < 2:
        return f"{values[0]:.{digits}f} (one value, no spread)"
    return (f"{statistics.mean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f} "
            f"(sample stdev, n={len(values)})")


def min_median_max(values, digits=0, unit=""):
    return (f"min {min(values):.{digits}f}{unit} / median {statistics.median(values):.{digits}f}{unit} / "
            f"max {max(values):.{digits}f}{unit} over {len(values)}")


def seeds(text):
    """'0-4' or '0,2,5'."""
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",")]


def accuracy_of(spec, space_name="nb201"):
    """A cell's accuracy (None when not measured) in the table ``spec`` names, read as ``--benchmark SPEC``
    reads it: a CSV path, or a registered table as NAME[:COLUMN] (its first column unless one is named)."""
    from tenas_kit.analysis.accuracy import open_table
    from tenas_kit.plugins import registry

    reg = registry()
    table, metrics = open_table(spec, reg.get("space", space_name), reg)
    return lambda arch: table.value(arch, metrics[0])
