"""Who holds ``index.lock``, and taking it over from a holder that is gone.

flock frees a lock when every process that shares its open file is gone, not when the
process that took it is: a child that inherited the descriptor (a worker of an older
ctxfold, or any program started without closing it) keeps it for a dead indexer, and
every later index run would wait for it in vain. So the holder writes its pid (and the
start time of that process, against pid reuse) into the lock file, and clears it on
release; a waiter that finds a recorded holder no longer alive puts a fresh lock file in
place of the old one, whose lock then binds nobody. An empty file (no holder recorded,
or an older ctxfold holding it) is never taken over.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def record_holder(fh) -> None:
    pid = os.getpid()
    fh.seek(0)
    fh.truncate()
    fh.write(f"{pid} {_start_time(pid) or '?'}\n")
    fh.flush()


def clear_holder(fh) -> None:
    try:
        fh.seek(0)
        fh.truncate()
        fh.flush()
    except (OSError, ValueError):
        pass


def holder_gone(path: Path) -> bool:
    """A holder is recorded in ``path`` and that process no longer runs."""
    try:
        pid_text, started = Path(path).read_text().split()[:2]
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    now = _start_time(pid)
    if now is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False  # alive, start time unknown: not gone
    return started != "?" and now != started


def take_over_if_stale(path: Path) -> bool:
    """Replace the lock file when its recorded holder is gone; True if it was replaced.
    Waiters do this one at a time (a second lock file), and check again inside."""
    path = Path(path)
    with open(path.with_name(path.name + ".takeover"), "a+") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not holder_gone(path):
            return False
        fresh = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fresh.write_text("")
        os.replace(fresh, path)
        return True


def is_current(fh, path: Path) -> bool:
    """The open lock file is still the one at ``path`` (not replaced by a take-over)."""
    try:
        return os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino
    except OSError:
        return False
