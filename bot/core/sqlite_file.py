"""The one way our SQLite files are opened: the state store and the embedded calendar.

DESIGN §4: the moderator creates, opens or sets aside only regular files that
are its own SQLite databases. In order, before anything is written:

1. the path is examined (`bot.core.sqlite_path.path_problem`): a directory, a
   device, a missing directory or an unwritable place is refused;
2. the header says whether an existing file can be ours: not SQLite, another
   program's `application_id`, or (for the calendar) zero bytes is refused;
3. SQLite opens it without creating (`mode=rw`; `rwc` only for a new file),
   with a bounded wait for another process' lock (waited in asyncio, so that
   cancelling the opening, a stop signal, ends the wait at once);
4. its tables must be ours only and its schema version not newer than ours;
5. `PRAGMA quick_check` must pass; a file that fails it is `DatabaseFileCorrupt`
   (a file whose content is rebuilt from elsewhere, the state or a CalDAV copy, is
   set aside by `open_rebuildable` when it is certainly ours; the calendar never);
6. only then WAL mode, the schema, the upgrade and the `application_id` stamp.

Every refusal names the setting (`STATE_PATH`, `CALENDAR_URL`) and leaves the
file system exactly as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import aiosqlite

from bot.core.sqlite_path import MEMORY, FileHeader, path_problem, read_header, set_aside

log = logging.getLogger(__name__)

#: Brings a file of an older `found` version up to date (after the schema script ran).
Upgrade = Callable[[aiosqlite.Connection, int], Awaitable[None]]
_BUSY = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})
_CORRUPT = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
#: How often an opening looks again at a file another process holds locked.
LOCK_RETRY_S = 0.05


class DatabaseFileError(Exception):
    """One of our database files cannot be used; the message names the setting to look at."""

    #: The process exit status this deserves (DESIGN §9): 1 a failure, 2 a configuration to fix.
    exit_code = 1

    def __init__(self, setting: str, path: str, problem: str) -> None:
        super().__init__(f"{setting}: {path} {problem}")
        self.setting = setting
        self.path = path
        self.problem = problem


class DatabaseFileRefused(DatabaseFileError):
    """The path or the file is not one of ours to open (nothing was changed): exit 2."""

    exit_code = 2


class DatabaseFileCorrupt(DatabaseFileRefused):
    """The file failed its integrity check; `ours` says whether it is certainly our own."""

    def __init__(self, setting: str, path: str, problem: str, *, ours: bool, detail: str) -> None:
        super().__init__(setting, path, problem)
        self.ours = ours
        #: What SQLite said (the first lines of `quick_check`, or its error).
        self.detail = detail


class DatabaseFileBusy(DatabaseFileError):
    """Another process held the file locked for longer than the bounded wait: exit 1."""


@dataclass(frozen=True)
class DatabaseKind:
    """What makes a file one of ours, and how to bring it to the current schema."""

    #: For messages: "state file", "calendar file".
    what: str
    #: The setting that names the file, at the start of every message.
    setting: str
    #: Stamped into new and upgraded files, so a damaged one is still recognised as ours.
    application_id: int
    tables: frozenset[str]
    version: int
    schema: str
    upgrade: Upgrade
    #: A zero-byte file is taken as a new database (state: rebuildable) or refused (calendar).
    empty_is_new: bool
    #: Said after a corrupt file's refusal: how to get the data back.
    recovery: str
    #: How loudly a missing file (created now) is reported: a state file that vanished is
    #: worth a warning, a first calendar is what every new installation starts with.
    new_file_level: int = logging.WARNING
    #: Where the content comes back from when a corrupt file is set aside (`open_rebuildable`);
    #: None: never set aside (the calendar is the user's data, not a copy of it).
    rebuilt_from: str | None = None


async def open_database_file(
    path: str | Path,
    kind: DatabaseKind,
    *,
    busy_timeout_s: float,
    isolation_level: str | None = "",
) -> aiosqlite.Connection:
    """A connection to our database at `path`, its schema current; see the module docstring.

    Raises `DatabaseFileRefused` (nothing changed), `DatabaseFileCorrupt`,
    `DatabaseFileBusy`, or `DatabaseFileError` (the disk failed while preparing it).
    """
    where = str(path)
    header: FileHeader | None = None
    if where != MEMORY:
        header = _check_before_open(Path(where), kind)
    uri = where if where == MEMORY else _uri(where, create=header is None)
    try:
        db = await _connect(uri, kind, where, isolation_level)
    except BaseException:
        _forget_if_new(header, where)
        raise
    try:
        await db.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout_s * 1000))}")
        found = await _examine(db, kind, where, header)
        await _wait_for_write_lock(db, busy_timeout_s)
        if where != MEMORY:
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
        await db.executescript(kind.schema)
        await kind.upgrade(db, found)
        await db.execute(f"PRAGMA application_id = {kind.application_id}")
        await db.execute(f"PRAGMA user_version = {kind.version}")
        await db.commit()
    except BaseException as exc:  # a cancellation (a stop signal) included
        await db.close()
        _forget_if_new(header, where)
        if isinstance(exc, sqlite3.Error):
            raise _failure(kind, where, "cannot be prepared", exc) from None
        raise
    return db


def _forget_if_new(header: FileHeader | None, where: str) -> None:
    """Remove the file this opening created if nothing was written to it yet: left empty,
    a calendar file is refused at every later start (DESIGN §4: a run that cannot start
    creates nothing). Only an empty file, so never anything another process wrote."""
    if header is not None or where == MEMORY:
        return
    path = Path(where)
    with contextlib.suppress(OSError):
        if path.stat().st_size == 0:
            path.unlink()


async def open_rebuildable(
    path: str | Path,
    kind: DatabaseKind,
    now: datetime,
    *,
    busy_timeout_s: float,
    isolation_level: str | None = "",
) -> tuple[aiosqlite.Connection, Path | None]:
    """`open_database_file` for a kind rebuilt from elsewhere (the state from the calendar,
    a CalDAV copy from the events): a corrupt file certainly ours is set aside as
    `<name>.corrupt-<time>` (kept for a post-mortem) and a new one made. Answers the
    connection and where the corrupt file went; anything else is raised as it is."""

    def opening() -> Awaitable[aiosqlite.Connection]:
        return open_database_file(
            path, kind, busy_timeout_s=busy_timeout_s, isolation_level=isolation_level
        )

    try:
        return await opening(), None
    except DatabaseFileCorrupt as exc:
        if not exc.ours or kind.rebuilt_from is None:
            raise
        cause = exc
    try:
        target = set_aside(Path(path), now)
    except OSError as exc:
        raise DatabaseFileError(
            kind.setting, str(path), f"is corrupt and could not be set aside: {exc}"
        ) from exc
    log.error(
        "%s %s failed its integrity check (%s): moved it to %s; a new one is rebuilt from %s",
        kind.what,
        path,
        cause.detail,
        target,
        kind.rebuilt_from,
    )
    return await opening(), target


def header_problem(path: Path, kind: DatabaseKind) -> str | None:
    """Why the file at `path` (looked at, never opened) cannot be a `kind` of ours, or None:
    the opener refuses with it, and `check-config` says it without opening anything."""
    problem = path_problem(path)
    if problem is not None:
        return f"{problem} (nothing was changed)"
    header = read_header(path)
    if header is None:
        return None
    if header.size == 0:
        if kind.empty_is_new:
            return None
        return (
            f"is an empty file (0 bytes), not a {kind.what}: if a new one is what you "
            "expect, delete the empty file and it is created; otherwise restore the file "
            "from a backup"
        )
    if not header.is_sqlite:
        return (
            f"is not an SQLite database, so not a {kind.what} of this moderator; "
            "point the setting at another path (the file was left untouched)"
        )
    if header.application_id not in (0, kind.application_id):
        return (
            f"is another program's SQLite database (application id {header.application_id:#x}),"
            f" not a {kind.what}; the file was left untouched"
        )
    return None


def _check_before_open(path: Path, kind: DatabaseKind) -> FileHeader | None:
    problem = header_problem(path, kind)
    if problem is not None:
        raise DatabaseFileRefused(kind.setting, str(path), problem)
    header = read_header(path)
    if header is None:
        log.log(
            kind.new_file_level, "%s %s does not exist: creating a new, empty one", kind.what, path
        )
    elif header.size == 0:
        log.info("%s %s is empty (0 bytes): starting it afresh", kind.what, path)
    return header


def _uri(where: str, *, create: bool) -> str:
    """A URI that lets SQLite create the file only when we decided to (no races into `rwc`)."""
    return f"file:{quote(str(Path(where).absolute()))}?mode={'rwc' if create else 'rw'}"


async def _connect(
    uri: str, kind: DatabaseKind, where: str, isolation_level: str | None
) -> aiosqlite.Connection:
    connection = aiosqlite.connect(
        uri, uri=where != MEMORY, isolation_level=isolation_level, timeout=0.0
    )
    try:
        return await connection
    except BaseException as exc:  # a cancellation too: the worker may have opened it
        await _wait_for_worker(connection)
        if isinstance(exc, sqlite3.Error):
            raise _failure(kind, where, "cannot be opened", exc) from None
        raise


async def _examine(
    db: aiosqlite.Connection, kind: DatabaseKind, where: str, header: FileHeader | None
) -> int:
    """The file's schema version, once it is known to be ours, not newer, and intact."""
    recognised = header is not None and header.application_id == kind.application_id
    try:
        async with db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ) as cur:
            tables = {str(row[0]) for row in await cur.fetchall()}
        async with db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        found = int(row[0]) if row else 0
    except sqlite3.Error as exc:
        if _name(exc) in _CORRUPT:
            raise _corrupt(kind, where, str(exc), ours=recognised) from None
        raise _failure(kind, where, "cannot be read", exc) from None
    foreign = tables - kind.tables
    if foreign:
        raise DatabaseFileRefused(
            kind.setting,
            where,
            f"holds tables that are not a {kind.what}'s ({', '.join(sorted(foreign)[:5])}): "
            "it is another program's database; the file was left untouched",
        )
    if found > kind.version:
        raise DatabaseFileRefused(
            kind.setting,
            where,
            f"was made by a newer version (schema {found}, this one knows {kind.version}); "
            "run the newer version, or point the setting at another file",
        )
    ours = recognised or bool(tables)
    try:
        async with db.execute("PRAGMA quick_check") as cur:
            rows = [str(r[0]) for r in await cur.fetchall()]
    except sqlite3.Error as exc:
        if _name(exc) in _BUSY:
            raise _failure(kind, where, "cannot be read", exc) from None
        raise _corrupt(kind, where, str(exc), ours=ours) from None
    if rows != ["ok"]:
        raise _corrupt(kind, where, "; ".join(rows[:3]), ours=ours)
    return found


async def _wait_for_write_lock(db: aiosqlite.Connection, busy_timeout_s: float) -> None:
    """Until no other process holds the file's write lock, for at most `busy_timeout_s`
    (then SQLite's "database is locked" is raised, as its own wait would).

    SQLite's own wait sleeps in the connection's thread, out of reach of a task's
    cancellation and of `interrupt()`: a stop signal during it waited the whole timeout.
    Here each try is instant and the waiting is done in asyncio between tries. The writes
    that follow find the lock free unless another process takes it in that instant.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + busy_timeout_s
    await db.execute("PRAGMA busy_timeout = 0")
    while True:
        try:
            await db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _name(exc) not in _BUSY or loop.time() >= deadline:
                raise
            await asyncio.sleep(LOCK_RETRY_S)
        else:
            await db.execute("ROLLBACK")
            break
    await db.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout_s * 1000))}")


def _corrupt(kind: DatabaseKind, where: str, detail: str, *, ours: bool) -> DatabaseFileCorrupt:
    return DatabaseFileCorrupt(
        kind.setting,
        where,
        f"failed its integrity check ({detail}); it was not changed. {kind.recovery}",
        ours=ours,
        detail=detail,
    )


def _failure(kind: DatabaseKind, where: str, doing: str, exc: sqlite3.Error) -> DatabaseFileError:
    name = _name(exc)
    if name in _BUSY:
        return DatabaseFileBusy(
            kind.setting,
            where,
            f"{doing}: another process keeps it locked ({exc}); is another moderator or "
            "calendar command using it?",
        )
    if name in _CORRUPT:
        return _corrupt(kind, where, str(exc), ours=False)
    if name == "SQLITE_FULL":
        return DatabaseFileError(kind.setting, where, f"{doing}: the disk is full ({exc})")
    return DatabaseFileError(kind.setting, where, f"{doing}: {exc}")


def _name(exc: sqlite3.Error) -> str:
    return str(getattr(exc, "sqlite_errorname", ""))


async def _wait_for_worker(connection: aiosqlite.Connection) -> None:
    """Let a failed connection's worker thread finish while our loop still runs.

    aiosqlite stops that thread without awaiting it; if the loop closes first,
    the thread dies on "Event loop is closed" and the failure is reported twice.
    """
    thread = getattr(connection, "_thread", None)
    if isinstance(thread, threading.Thread) and thread.is_alive():
        await asyncio.to_thread(thread.join, 5.0)
