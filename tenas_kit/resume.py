"""``--resume`` and Ctrl-C for ``run`` and ``rank``: what is kept, how it is marked, how to go on.

Resuming stays automatic (the same command picks up a run's ``.partial`` file
and a ranking's score store); ``--resume`` makes it explicit and fails when
there is nothing to resume, so a typo in the options cannot silently start
over. A ranking keeps its scores in the store; ``RESULTS.partial`` (JSON) marks
it unfinished from its start until its results are written, so a killed
ranking is as resumable as one stopped by Ctrl-C.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tenas_kit.errors import Interrupted, TenasError


def require_something(resume, partial, *finished):
    """``--resume`` with neither an interrupted nor a finished result is a usage error."""
    if resume and not any(Path(p).is_file() for p in (partial, *finished)):
        raise TenasError(f"--resume: nothing to resume at '{partial}'; run the command without --resume to start.")


def interrupted_run(run_file, partial):
    run_file.mark_interrupted()
    return Interrupted(f"{run_file.rounds_done} finished rounds kept in '{partial}' (marked interrupted); "
                       f"rerun the same command with --resume to continue.")


class RankMarker:
    """``RESULTS.partial``: the ranking's settings and whether Ctrl-C stopped it."""

    def __init__(self, out, config):
        self.path = Path(str(out) + ".partial")
        self.config = config

    def start(self, resume):
        """Mark the ranking unfinished. With ``resume``, the marker must be there with these settings;
        without, an old marker is replaced (scores are keyed by their settings, so none can mix)."""
        require_something(resume, self.path)  # a finished ranking is redone from the store: only the marker counts
        if resume and self._held() != self.config:
            raise TenasError(f"--resume: '{self.path}' marks an unfinished ranking with other settings; rerun "
                             f"it with its own settings, or leave out --resume to start this one.")
        self._write(False)

    def _held(self):
        try:
            return json.loads(self.path.read_text()).get("config")
        except (OSError, ValueError, AttributeError):
            return None  # an unreadable marker holds no settings worth protecting

    def interrupted(self, store, kept):
        self._write(True)
        return Interrupted(f"{kept} scores kept in '{store}' (ranking marked interrupted in '{self.path}'); "
                           f"rerun the same command with --resume to continue.")

    def done(self):
        self.path.unlink(missing_ok=True)

    def _write(self, interrupted):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            draft = self.path.with_name(self.path.name + ".tmp")
            draft.write_text(json.dumps({"config": self.config, "interrupted": interrupted}))
            os.replace(draft, self.path)
        except OSError:
            pass  # the marker is a convenience; the store itself is what resumes
