"""Files replaced whole: written beside their final name, fsynced, then renamed into place.

Every file tenas-kit writes (score store files, run files, ranking results,
figures, reports) goes through ``write_atomically``, so a failed write (a full
disk, a file size limit, a kill) leaves the previous file, or none, under the
final name, never a half-written one. The temporary file is named
``.NAME.HOST.PID.tmp``: removed on every way out of the write, and one that a
killed process left behind is told stale by its host and pid and removed by
the next write of the same file.
"""

from __future__ import annotations

import os
import re
import socket
import stat
from pathlib import Path

HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"


def temp_path(final):
    return final.with_name(f".{final.name}.{HOST}.{os.getpid()}.tmp")


def write_atomically(path, data):
    """Put ``data`` (bytes) in ``path`` whole or not at all; raises OSError, leaving ``path`` as it was.

    A path that is not a regular file (``/dev/stdout``, a FIFO, ``/dev/full``) is written in place: renaming
    over it would replace the device, not write to it. A symbolic link is followed, so its target is replaced.
    """
    final = Path(os.path.realpath(path))
    try:
        mode = os.stat(final).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        with open(final, "wb") as handle:
            handle.write(data)
        return
    _remove_stale(final)
    temp = temp_path(final)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp, stat.S_IMODE(mode))  # a replaced file keeps its permissions
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)


def _remove_stale(final):
    """Temporary files of ``final`` that writers on this host, no longer running, left behind."""
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.{re.escape(HOST)}\.(\d+)\.tmp$")
    try:
        names = os.listdir(final.parent)
    except OSError:
        return
    for name in names:
        match = pattern.match(name)
        if match and not alive(int(match.group(1))):
            (final.parent / name).unlink(missing_ok=True)


def fsync_dir(folder):
    """Make a rename in ``folder`` durable, where the file system can."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename is as durable as they make it
    finally:
        os.close(handle)


def alive(pid):
    """Whether a process ``pid`` runs on this host (a temporary file of a dead one is stale)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
