"""A few recent results kept for reuse, shared by jobs that may run on threads side by side."""

from __future__ import annotations

import threading


class Recent(dict):
    """At most ``keep`` entries; the oldest goes first."""

    def __init__(self, keep):
        super().__init__()
        self.keep = keep
        self._lock = threading.Lock()

    def get_or_make(self, key, make):
        """The value kept for ``key``, else ``make()``'s, now kept. ``make`` runs outside the lock, so two
        threads may both make the value for one key: it must not matter which is kept (seeded draws)."""
        with self._lock:
            if key in self:
                return self[key]
        value = make()
        with self._lock:
            if key not in self:
                if len(self) >= self.keep:
                    del self[next(iter(self))]
                self[key] = value
            return self[key]
