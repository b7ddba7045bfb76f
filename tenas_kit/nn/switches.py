"""PyTorch settings that belong to the whole process, held by jobs that may run side by side.

The intra-op thread count and the oneDNN switch are process-wide: set from one
thread, they change every other thread at once. A job that set one and put the
old value back when done would change it under a job still running in another
thread, and with it the order of float additions. A ``Switch`` is set by the
first job that holds it and put back by the last one to let go; a job that
wants the other value waits until nobody holds it.
"""

from __future__ import annotations

import collections
import threading
from contextlib import contextmanager

import torch


class Switch:
    def __init__(self, read, write):
        self.read, self.write = read, write
        self._changed = threading.Condition()
        self._value = self._before = None
        self._holders = collections.Counter()  # thread id -> times it holds the switch

    @contextmanager
    def held(self, value):
        """The switch at ``value`` until the block ends, as long as any thread holds it."""
        me = threading.get_ident()
        with self._changed:
            if self._holders[me] and value != self._value:
                raise RuntimeError(f"this thread holds the switch at {self._value!r}; it cannot wait for {value!r}")
            self._changed.wait_for(lambda: not self._holders or self._value == value)
            if not self._holders:
                self._before, self._value = self.read(), value
            self.write(value)  # by every holder: a setting may also have a part per thread (the thread count does)
            self._holders[me] += 1
        try:
            yield
        finally:
            with self._changed:
                self._holders[me] -= 1
                if not self._holders[me]:
                    del self._holders[me]
                if not self._holders:
                    self.write(self._before)
                    self._changed.notify_all()


# Intra-op threading would change the order of summation (and so the last bits) with the machine's cores.
THREADS = Switch(torch.get_num_threads, torch.set_num_threads)
# Only the on/off switch: torch.backends.mkldnn.flags() also resets TF32 and warns about it.
ONEDNN = Switch(torch._C._get_mkldnn_enabled, torch._C._set_mkldnn_enabled)
