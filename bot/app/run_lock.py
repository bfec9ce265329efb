"""One moderator per state file (README): a run holds `<STATE_PATH>.lock` while it runs.

Two moderators on one state file would each claim and wake from the same wake ledger
and each delete the other's channels; SQLite's own locking only serialises their
writes. The lock is an advisory `flock` on a file of its own beside the state file,
taken without waiting once the state file is open (a second run says so and exits 1,
like a database file locked by another process; a run refused before that leaves no
lock file) and let go by the kernel however the run ends, a crash included.
The file is left in place (removing it could let a third run lock a file no longer
there while a fourth makes a new one).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from bot.core.sqlite_path import MEMORY


class StateInUse(Exception):
    """Another moderator holds the state file."""


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


@contextlib.contextmanager
def holding(state_path: Path) -> Iterator[None]:
    """Hold the state file's lock for the block; `StateInUse` when another run holds it."""
    if str(state_path) == MEMORY:
        yield
        return
    path = lock_path(state_path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateInUse(
                f"STATE_PATH: {state_path} is in use by another moderator (it holds {path}); "
                "one moderator runs per state file: stop the other, or give this one its own"
            ) from None
        yield
    finally:
        os.close(fd)
