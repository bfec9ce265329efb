"""The state file itself: its tables and version, opening it, and setting a bad one aside.

The file is opened through `bot.core.sqlite_file` (DESIGN §4): only a regular
file that is our own SQLite database is ever opened. One of ours that fails its
integrity check is logged at ERROR with its path, moved aside (with its
`-wal`/`-shm`) as `<name>.corrupt-<timestamp>` and replaced by an empty one:
the calendar still has every slot, so the moderator rebuilds from it instead of
refusing to start. Anything else (a directory, a device, another program's
file, a newer schema) is refused and left as it was.

Every public write of the store is atomic and answers once it is committed;
writes of concurrent agents share commits (`group_commit`), so a burst of wakes
does not queue them one transaction after the other.

Durability: the opener puts the file in WAL mode with `synchronous=NORMAL`. A
commit is then in the WAL file (the OS has it) when the caller is answered,
but not fsynced: it survives the crash of the process, which is the failure
the ledger's order (intent before the claim, channel link before the wake
message, DESIGN §5) is there for. A power cut or kernel crash may lose the
last commits, never the file's consistency, and what is lost then costs at
most a missed wake, never a second one: a lost intent whose claim landed
leaves a held slot nobody wakes (the stuck-slot rule ends it); a lost channel
link or result is found again by the channel's topic and our wake message in
its history. `FULL` (one fsync per commit, now per group) doubles the
ledger's share of a burst's wake (`bench/state_burst.py`: 7.5 -> 14.5 ms p99
per wake's five writes, quiet disk) for protection the exactly-once rule does
not need, and makes the file's latency the disk's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import aiosqlite

from bot.core.clock import Clock, SystemClock
from bot.core.sqlite_file import DatabaseKind, open_rebuildable
from bot.core.sqlite_path import MEMORY as MEMORY
from bot.core.state.group_commit import GroupCommit, Statement

log = logging.getLogger(__name__)

#: 2 added `wakes.claim_key`; a version-1 file is upgraded in place when opened.
SCHEMA_VERSION = 2
#: How long opening waits for another process' lock before saying so (seconds).
BUSY_TIMEOUT_S = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS wakes (
    slot_id          TEXT PRIMARY KEY,
    agent_id         TEXT NOT NULL,
    expected_version INTEGER NOT NULL,
    intent_at        TEXT NOT NULL,
    claimed_version  INTEGER,
    claimed_at       TEXT,
    result_at        TEXT,
    ok               INTEGER,
    via              TEXT,
    reference        TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 1,
    activity_at      TEXT,
    nudged_at        TEXT,
    claim_key        TEXT
);
CREATE INDEX IF NOT EXISTS wakes_pending ON wakes(result_at) WHERE result_at IS NULL;
CREATE TABLE IF NOT EXISTS channel_links (
    slot_id    TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL,
    channel_id INTEGER NOT NULL,
    message_id INTEGER,
    ended_at   TEXT
);
CREATE INDEX IF NOT EXISTS channel_links_channel ON channel_links(channel_id);
CREATE TABLE IF NOT EXISTS deferrals (
    agent_id TEXT NOT NULL,
    slot_id  TEXT NOT NULL,
    PRIMARY KEY (agent_id, slot_id)
);
CREATE TABLE IF NOT EXISTS syncs (
    agent_id             TEXT PRIMARY KEY,
    attempt_at           TEXT NOT NULL,
    ok                   INTEGER NOT NULL,
    error                TEXT,
    last_ok_at           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0
);
"""


async def _upgrade(db: aiosqlite.Connection, found: int) -> None:
    async with db.execute("PRAGMA table_info(wakes)") as cur:
        columns = {r[1] for r in await cur.fetchall()}
    if "claim_key" not in columns:
        # Version 1: its intents were claimed without a key. A fresh key the
        # calendar never saw makes recovery ask "is it mine?" and hear no (409),
        # so such a slot is never woken twice (at worst the stuck rule ends it).
        await db.execute("ALTER TABLE wakes ADD COLUMN claim_key TEXT")
        await db.execute(
            "UPDATE wakes SET claim_key = lower(hex(randomblob(16))) WHERE claim_key IS NULL"
        )


STATE_FILE = DatabaseKind(
    what="state file",
    setting="STATE_PATH",
    application_id=0x434D5354,  # "CMST"
    tables=frozenset({"wakes", "channel_links", "deferrals", "syncs"}),
    version=SCHEMA_VERSION,
    schema=_SCHEMA,
    upgrade=_upgrade,
    empty_is_new=True,
    recovery="The state is rebuilt from the calendar: move the file away and start again.",
    rebuilt_from="the calendar",
)


class StateError(Exception):
    """The state file could not be written or read while running (disk full, I/O error)."""


def to_stamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("state timestamps must be timezone-aware")
    return value.astimezone(UTC).isoformat()


def from_optional_stamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def from_stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


class StateDatabase:
    """The connection and the one write path every part of the state goes through."""

    def __init__(self, db: aiosqlite.Connection, path: str, clock: Clock) -> None:
        self._db = db
        self._path = path
        self._clock = clock
        self._commits = GroupCommit(db, self._failure)
        self._closed = False
        #: Set when the file found at open was unusable and was replaced.
        self.rebuilt_from: Path | None = None

    @classmethod
    async def open(
        cls, path: str | Path, *, clock: Clock | None = None, busy_timeout_s: float = BUSY_TIMEOUT_S
    ) -> Self:
        """Open (or create) the state file; one of ours that is corrupt is set aside and rebuilt.

        Anything that is not ours to open is `DatabaseFileRefused` (nothing changed).
        """
        clock = clock or SystemClock()
        where = str(path)
        db, moved = await open_rebuildable(
            where, STATE_FILE, clock.now(), busy_timeout_s=busy_timeout_s
        )
        store = cls(db, where, clock)
        store.rebuilt_from = moved
        return store

    async def close(self) -> None:
        """Every write already asked for is committed (or refused) first."""
        if self._closed:
            return
        self._closed = True
        await self._commits.close()
        await self._db.close()

    @property
    def path(self) -> str:
        return self._path

    @property
    def commits(self) -> GroupCommit:
        """The write path, for its counters (rounds, writes)."""
        return self._commits

    # ---- plumbing ------------------------------------------------------

    async def _write(self, statements: Iterable[Statement]) -> int:
        """Run `statements` as one transaction; answers the last statement's rowcount."""
        return (await self._commits.write(list(statements))).rowcount

    async def _write_then_read(self, statements: Iterable[Statement]) -> list[Any]:
        """Like `_write`, ending with a SELECT whose rows are answered (one round, one trip)."""
        return (await self._commits.write(list(statements))).rows

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._commits.read(sql, params)

    async def _write_one(self, sql: str, params: Sequence[Any]) -> int:
        """One statement as its own transaction."""
        return await self._write([(sql, params)])

    def _failure(self, doing: str, exc: Exception) -> StateError:
        return StateError(f"state file {self._path}: {doing} failed: {exc}")

    def _now(self) -> str:
        stamp = to_stamp(self._clock.now())
        assert stamp is not None
        return stamp
