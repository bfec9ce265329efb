"""What a path names before SQLite touches it (DESIGN §4, "files are the user's").

SQLite opens whatever it is given: a directory fails late, `/dev/null` "works"
and leaves `/dev/null-journal` behind, a missing folder is an error only after
the fact. These checks run first and only look: they create, move and delete
nothing, so the settings can run them too (`check-config` reports a bad
`STATE_PATH` without touching it).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

MEMORY = ":memory:"
SQLITE_MAGIC = b"SQLite format 3\x00"
#: The companions SQLite keeps beside a database; they travel with it when it is set aside.
COMPANIONS = ("-wal", "-shm", "-journal")
_HEADER_BYTES = 100
_APPLICATION_ID_AT = 68


@dataclass(frozen=True)
class FileHeader:
    """The first bytes of an existing file, enough to tell whether it can be one of ours."""

    size: int
    is_sqlite: bool
    #: `PRAGMA application_id`, read from the header so that a file too damaged for
    #: SQLite to read its tables can still be recognised as ours (0 = none set).
    application_id: int


def path_problem(path: Path) -> str | None:
    """Why `path` cannot hold one of our databases, or None; looks only, never changes anything.

    A path that does not exist is fine when its directory exists and is writable
    (the database is created there). An existing path must be a regular file
    (a symbolic link to one is followed) that this user can read and write, in a
    directory it can write (SQLite keeps its `-wal`/`-shm` files beside it).
    """
    if str(path) == MEMORY:
        return None
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            return "is a symbolic link to nothing"
        return _directory_problem(path.parent, creating=True)
    except NotADirectoryError:
        return "is not a valid path: a part of it is a file, not a directory"
    except PermissionError:
        return "cannot be reached (permission denied on a directory on the way)"
    except OSError as exc:
        return f"cannot be examined ({exc.strerror or exc})"
    if stat.S_ISDIR(info.st_mode):
        return "is a directory, not a database file"
    if not stat.S_ISREG(info.st_mode):
        return "is a device or special file, not a regular database file"
    if not os.access(path, os.R_OK | os.W_OK):
        return "is not readable and writable by this user"
    return _directory_problem(path.parent, creating=False)


def _directory_problem(directory: Path, *, creating: bool) -> str | None:
    where = directory if str(directory) else Path(".")
    if not where.is_dir():
        return f"is in a directory that does not exist ({where}); create it first"
    if not os.access(where, os.W_OK | os.X_OK):
        why = "the database cannot be created" if creating else "SQLite cannot keep its -wal file"
        return f"is in a directory this user cannot write ({where}): {why}"
    return None


def read_header(path: Path) -> FileHeader | None:
    """The header of the file at `path`, None when there is no file (checked by `path_problem`)."""
    try:
        with path.open("rb") as file:
            head = file.read(_HEADER_BYTES)
            size = os.fstat(file.fileno()).st_size
    except FileNotFoundError:
        return None
    is_sqlite = head.startswith(SQLITE_MAGIC) and len(head) == _HEADER_BYTES
    app_id = (
        int.from_bytes(head[_APPLICATION_ID_AT : _APPLICATION_ID_AT + 4], "big") if is_sqlite else 0
    )
    return FileHeader(size=size, is_sqlite=is_sqlite, application_id=app_id)


def set_aside(path: Path, now: datetime) -> Path:
    """Rename `path` and its companions to `<name>.corrupt-<time>`; answers the new path.

    Only for a regular file the caller has recognised as its own (never a link,
    never a directory): anything else is refused with `OSError` before a rename.
    """
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EPERM, "only a regular file of ours is ever set aside", str(path))
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists() or any(target.with_name(target.name + s).exists() for s in COMPANIONS):
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    path.rename(target)
    for suffix in COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.is_file() and not companion.is_symlink():
            companion.rename(target.with_name(target.name + suffix))
    return target
