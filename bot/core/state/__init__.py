"""The moderator's own memory, kept in SQLite at `STATE_PATH` (DESIGN §4).

The calendar owns the slots; this file holds what only the moderator knows and
must not forget across a restart:

* the **wake ledger**: per slot, the intent to wake (written *before* any side
  effect, with the claim's `expected_version` and its *claim key*), the claim,
  and the result. The claim key goes to the calendar with the `start`, which
  keeps it with the slot while it is held; so a restart (or a retry after a
  lost answer) re-sends that same `start` and the calendar's 200 or 409 says
  whose the slot is. A restart reads the entries that have an intent but no
  result and finishes them without waking anything twice;
* the **channel links** (slot -> private channel), implementing
  `bot.core.waker.ChannelLedger` for the Discord waker and the reply listener;
* **session deferrals** (agent -> slot ids deferred while it stayed busy), so a
  restart does not defer the same slot again;
* the **last sync** per agent (time, ok/error, consecutive failures) for status.

Every public write is one transaction, serialised by an asyncio lock so that
concurrent agents sharing the one connection never interleave statements.

A state file that is not a database, is malformed or has an unknown schema is
logged at ERROR with its path, moved aside as `<name>.corrupt-<timestamp>` and
replaced by an empty one: the calendar still has every slot, so the moderator
rebuilds from it instead of refusing to start.

Usage::

    state = await StateStore.open(settings.state_path, clock=clock)
    ...
    await state.close()
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.core.clock import Clock, SystemClock
from bot.core.waker import ChannelLink

log = logging.getLogger(__name__)

#: 2 added `wakes.claim_key`; a version-1 file is upgraded in place when opened.
SCHEMA_VERSION = 2
MEMORY = ":memory:"

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


class StateError(Exception):
    """The state file could not be written or read while running (disk full, I/O error)."""


@dataclass(frozen=True, slots=True)
class WakeEntry:
    """One slot's line in the wake ledger.

    `result_at is None` means the wake was started but never finished: the
    process died somewhere between the intent and the result.
    """

    slot_id: str
    agent_id: str
    expected_version: int
    intent_at: datetime
    claimed_version: int | None = None
    claimed_at: datetime | None = None
    result_at: datetime | None = None
    ok: bool | None = None
    via: str | None = None
    reference: str | None = None
    error: str | None = None
    attempts: int = 1
    activity_at: datetime | None = None
    nudged_at: datetime | None = None
    #: Sent with the claim's `start`; the calendar answers a repeat of it 200 while the
    #: slot is held by this claim. Every entry has one (an upgraded file's got a fresh one).
    claim_key: str = ""

    @property
    def unfinished(self) -> bool:
        return self.result_at is None

    @property
    def claimed(self) -> bool:
        return self.claimed_version is not None


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """How the last sync of one agent went; `last_ok_at` survives later failures."""

    agent_id: str
    attempt_at: datetime
    ok: bool
    error: str | None
    last_ok_at: datetime | None
    consecutive_failures: int


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("state timestamps must be timezone-aware")
    return value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _req_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


class StateStore:
    """The persisted state; open with `await StateStore.open(path, clock=...)`."""

    def __init__(self, db: aiosqlite.Connection, path: str, clock: Clock) -> None:
        self._db = db
        self._path = path
        self._clock = clock
        self._lock = asyncio.Lock()
        self._closed = False
        #: Set when the file found at open was unusable and was replaced.
        self.rebuilt_from: Path | None = None

    # ---- lifecycle -----------------------------------------------------

    @classmethod
    async def open(cls, path: str | Path, *, clock: Clock | None = None) -> StateStore:
        """Open (or create) the state file; a corrupt one is set aside, never fatal."""
        clock = clock or SystemClock()
        where = str(path)
        moved: Path | None = None
        if where != MEMORY:
            _prepare_location(Path(where))
        try:
            db = await cls._connect(where)
        except sqlite3.DatabaseError as exc:
            if where == MEMORY:
                raise
            moved = _set_aside(Path(where), clock, exc)
            db = await cls._connect(where)
        store = cls(db, where, clock)
        store.rebuilt_from = moved
        return store

    @staticmethod
    async def _connect(where: str) -> aiosqlite.Connection:
        db = await aiosqlite.connect(where)
        try:
            await db.execute("PRAGMA busy_timeout = 5000")
            if where != MEMORY:
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute("PRAGMA synchronous = NORMAL")
            async with db.execute("PRAGMA quick_check") as cur:
                rows = [tuple(r) for r in await cur.fetchall()]
            if rows != [("ok",)]:
                raise sqlite3.DatabaseError(f"integrity check failed: {rows[:3]}")
            async with db.execute("PRAGMA user_version") as cur:
                row = await cur.fetchone()
            version = int(row[0]) if row else 0
            if version not in (0, 1, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(
                    f"schema version {version} is not the {SCHEMA_VERSION} this moderator knows"
                )
            await db.executescript(_SCHEMA)
            async with db.execute("PRAGMA table_info(wakes)") as cur:
                columns = {r[1] for r in await cur.fetchall()}
            if "claim_key" not in columns:
                # Version 1: its intents were claimed without a key. A fresh key the
                # calendar never saw makes recovery ask "is it mine?" and hear no (409),
                # so such a slot is never woken twice (at worst the stuck rule ends it).
                await db.execute("ALTER TABLE wakes ADD COLUMN claim_key TEXT")
                await db.execute(
                    "UPDATE wakes SET claim_key = lower(hex(randomblob(16))) "
                    "WHERE claim_key IS NULL"
                )
            await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            await db.commit()
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await self._db.close()

    @property
    def path(self) -> str:
        return self._path

    # ---- plumbing ------------------------------------------------------

    async def _write(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> int:
        """Run `statements` as one transaction; answers the last statement's rowcount."""
        async with self._lock:
            try:
                rowcount = 0
                for sql, params in statements:
                    cur = await self._db.execute(sql, params)
                    rowcount = cur.rowcount
                    await cur.close()
                await self._db.commit()
                return rowcount
            except sqlite3.Error as exc:
                await self._safe_rollback()
                raise StateError(f"state file {self._path}: write failed: {exc}") from exc

    async def _safe_rollback(self) -> None:
        try:
            await self._db.rollback()
        except sqlite3.Error:
            log.exception("state file %s: rollback failed", self._path)

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock:
            try:
                async with self._db.execute(sql, params) as cur:
                    return list(await cur.fetchall())
            except sqlite3.Error as exc:
                raise StateError(f"state file {self._path}: read failed: {exc}") from exc

    def _now(self) -> str:
        stamp = _ts(self._clock.now())
        assert stamp is not None
        return stamp

    # ---- ChannelLedger -------------------------------------------------

    _LINK_COLS = "slot_id, agent_id, channel_id, message_id, ended_at"

    @staticmethod
    def _link(row: Sequence[Any]) -> ChannelLink:
        return ChannelLink(
            slot_id=row[0],
            agent_id=row[1],
            channel_id=int(row[2]),
            message_id=int(row[3]) if row[3] is not None else None,
            ended_at=_dt(row[4]),
        )

    async def channel_link(self, slot_id: str) -> ChannelLink | None:
        rows = await self._rows(
            f"SELECT {self._LINK_COLS} FROM channel_links WHERE slot_id = ?", (slot_id,)
        )
        return self._link(rows[0]) if rows else None

    async def link_by_channel(self, channel_id: int) -> ChannelLink | None:
        rows = await self._rows(
            f"SELECT {self._LINK_COLS} FROM channel_links WHERE channel_id = ?", (channel_id,)
        )
        return self._link(rows[0]) if rows else None

    async def save_channel(self, slot_id: str, agent_id: str, channel_id: int) -> None:
        """Link a slot to its channel; a new channel for the slot replaces the old link."""
        await self._write(
            [
                (
                    "INSERT INTO channel_links (slot_id, agent_id, channel_id) VALUES (?, ?, ?) "
                    "ON CONFLICT(slot_id) DO UPDATE SET agent_id = excluded.agent_id, "
                    "channel_id = excluded.channel_id, message_id = NULL, ended_at = NULL "
                    "WHERE channel_links.channel_id != excluded.channel_id",
                    (slot_id, agent_id, channel_id),
                )
            ]
        )

    async def save_message(self, slot_id: str, message_id: int) -> None:
        await self._write(
            [("UPDATE channel_links SET message_id = ? WHERE slot_id = ?", (message_id, slot_id))]
        )

    async def mark_ended(self, slot_id: str, at: datetime) -> None:
        """First end wins: a later duplicate (sync after reply) keeps the retention clock."""
        await self._write(
            [
                (
                    "UPDATE channel_links SET ended_at = ? WHERE slot_id = ? AND ended_at IS NULL",
                    (_ts(at), slot_id),
                )
            ]
        )

    async def ended_links(self, before: datetime) -> list[ChannelLink]:
        rows = await self._rows(
            f"SELECT {self._LINK_COLS} FROM channel_links "
            "WHERE ended_at IS NOT NULL AND ended_at < ? ORDER BY ended_at, slot_id",
            (_ts(before),),
        )
        return [self._link(r) for r in rows]

    async def all_links(self) -> list[ChannelLink]:
        rows = await self._rows(f"SELECT {self._LINK_COLS} FROM channel_links ORDER BY slot_id")
        return [self._link(r) for r in rows]

    async def forget_channel(self, slot_id: str) -> None:
        await self._write([("DELETE FROM channel_links WHERE slot_id = ?", (slot_id,))])

    # ---- wake ledger ---------------------------------------------------

    _WAKE_COLS = (
        "slot_id, agent_id, expected_version, intent_at, claimed_version, claimed_at, "
        "result_at, ok, via, reference, error, attempts, activity_at, nudged_at, claim_key"
    )

    @staticmethod
    def _wake(row: Sequence[Any]) -> WakeEntry:
        return WakeEntry(
            slot_id=row[0],
            agent_id=row[1],
            expected_version=int(row[2]),
            intent_at=_req_dt(row[3]),
            claimed_version=int(row[4]) if row[4] is not None else None,
            claimed_at=_dt(row[5]),
            result_at=_dt(row[6]),
            ok=bool(row[7]) if row[7] is not None else None,
            via=row[8],
            reference=row[9],
            error=row[10],
            attempts=int(row[11]),
            activity_at=_dt(row[12]),
            nudged_at=_dt(row[13]),
            claim_key=row[14] or "",
        )

    async def record_intent(
        self, slot_id: str, agent_id: str, expected_version: int, *, claim_key: str | None = None
    ) -> str:
        """Before the claim: "I am about to claim `slot_id` at `expected_version` and wake it".

        Answers the claim key to send with the `start` (`claim_key`, or a fresh
        one). An unfinished intent for the same slot and version is the same
        claim attempt and keeps its key, so a claim that landed late is still
        recognised as ours. A slot released after a failed wake is woken again
        later; its new intent replaces the finished entry, with a new key, and
        counts the attempt.
        """
        now = self._now()
        fresh = claim_key or uuid.uuid4().hex
        await self._write(
            [
                (
                    "INSERT INTO wakes (slot_id, agent_id, expected_version, intent_at, claim_key) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(slot_id) DO UPDATE SET "
                    "claim_key = CASE WHEN wakes.result_at IS NULL "
                    "AND wakes.expected_version = excluded.expected_version "
                    "AND wakes.claim_key IS NOT NULL THEN wakes.claim_key "
                    "ELSE excluded.claim_key END, "
                    "agent_id = excluded.agent_id, expected_version = excluded.expected_version, "
                    "intent_at = excluded.intent_at, claimed_version = NULL, claimed_at = NULL, "
                    "result_at = NULL, ok = NULL, via = NULL, reference = NULL, error = NULL, "
                    "attempts = wakes.attempts + 1, activity_at = NULL, nudged_at = NULL",
                    (slot_id, agent_id, expected_version, now, fresh),
                )
            ]
        )
        rows = await self._rows("SELECT claim_key FROM wakes WHERE slot_id = ?", (slot_id,))
        return str(rows[0][0]) if rows else fresh

    async def record_claim(self, slot_id: str, claimed_version: int) -> None:
        """The calendar accepted our `start`: the slot is ours at `claimed_version`."""
        now = self._now()
        await self._write(
            [
                (
                    "UPDATE wakes SET claimed_version = ?, claimed_at = ?, activity_at = ? "
                    "WHERE slot_id = ?",
                    (claimed_version, now, now, slot_id),
                )
            ]
        )

    async def record_result(
        self,
        slot_id: str,
        *,
        ok: bool,
        via: str,
        reference: str | None = None,
        error: str | None = None,
    ) -> None:
        now = self._now()
        await self._write(
            [
                (
                    "UPDATE wakes SET result_at = ?, ok = ?, via = ?, reference = ?, error = ?, "
                    "activity_at = COALESCE(activity_at, ?) WHERE slot_id = ?",
                    (now, int(ok), via, reference, error, now, slot_id),
                )
            ]
        )

    async def record_releasing(self, slot_id: str) -> None:
        """About to give back a claimed slot whose wake failed: the claim is no longer a fact.

        Written before the `release`, so a crash after it is recovered through the
        claim key (re-sent `start`: 200 only if the slot is still held by our
        claim) rather than as "ours, held", which another moderator's claim of
        the released slot could by then have made untrue.
        """
        await self._write(
            [
                (
                    "UPDATE wakes SET claimed_version = NULL, claimed_at = NULL "
                    "WHERE slot_id = ? AND result_at IS NULL",
                    (slot_id,),
                )
            ]
        )

    async def drop_intent(self, slot_id: str) -> None:
        """Forget an unfinished intent whose claim never happened (normal flow retries)."""
        await self._write(
            [("DELETE FROM wakes WHERE slot_id = ? AND result_at IS NULL", (slot_id,))]
        )

    async def record_activity(self, slot_id: str, at: datetime | None = None) -> None:
        """The agent showed life (reply, progress): the stuck-slot silence starts again."""
        stamp = _ts(at) if at is not None else self._now()
        await self._write(
            [
                (
                    "UPDATE wakes SET activity_at = ?, nudged_at = NULL WHERE slot_id = ?",
                    (stamp, slot_id),
                )
            ]
        )

    async def record_nudge(self, slot_id: str) -> None:
        await self._write(
            [("UPDATE wakes SET nudged_at = ? WHERE slot_id = ?", (self._now(), slot_id))]
        )

    async def wake_entry(self, slot_id: str) -> WakeEntry | None:
        rows = await self._rows(
            f"SELECT {self._WAKE_COLS} FROM wakes WHERE slot_id = ?", (slot_id,)
        )
        return self._wake(rows[0]) if rows else None

    async def unfinished_wakes(self) -> list[WakeEntry]:
        """Intents without a result: what a crash left half done, oldest first."""
        rows = await self._rows(
            f"SELECT {self._WAKE_COLS} FROM wakes WHERE result_at IS NULL ORDER BY intent_at"
        )
        return [self._wake(r) for r in rows]

    # ---- session deferrals --------------------------------------------

    async def add_deferrals(self, agent_id: str, slot_ids: Iterable[str]) -> None:
        ids = list(slot_ids)
        if not ids:
            return
        await self._write(
            [
                (
                    "INSERT OR IGNORE INTO deferrals (agent_id, slot_id) VALUES (?, ?)",
                    (agent_id, slot_id),
                )
                for slot_id in ids
            ]
        )

    async def add_deferral(self, agent_id: str, slot_id: str) -> None:
        await self.add_deferrals(agent_id, [slot_id])

    async def remove_deferral(self, agent_id: str, slot_id: str) -> None:
        await self._write(
            [
                (
                    "DELETE FROM deferrals WHERE agent_id = ? AND slot_id = ?",
                    (agent_id, slot_id),
                )
            ]
        )

    async def deferrals(self, agent_id: str) -> set[str]:
        rows = await self._rows("SELECT slot_id FROM deferrals WHERE agent_id = ?", (agent_id,))
        return {r[0] for r in rows}

    async def all_deferrals(self) -> dict[str, set[str]]:
        rows = await self._rows("SELECT agent_id, slot_id FROM deferrals")
        out: dict[str, set[str]] = {}
        for agent_id, slot_id in rows:
            out.setdefault(agent_id, set()).add(slot_id)
        return out

    async def clear_deferrals(self, agent_id: str) -> None:
        """The agent is idle again: its session is over."""
        await self._write([("DELETE FROM deferrals WHERE agent_id = ?", (agent_id,))])

    # ---- last sync -----------------------------------------------------

    _SYNC_COLS = "agent_id, attempt_at, ok, error, last_ok_at, consecutive_failures"

    @staticmethod
    def _sync(row: Sequence[Any]) -> SyncRecord:
        return SyncRecord(
            agent_id=row[0],
            attempt_at=_req_dt(row[1]),
            ok=bool(row[2]),
            error=row[3],
            last_ok_at=_dt(row[4]),
            consecutive_failures=int(row[5]),
        )

    async def record_sync(
        self, agent_id: str, *, ok: bool, error: str | None = None, at: datetime | None = None
    ) -> SyncRecord:
        stamp = _ts(at) if at is not None else self._now()
        if ok:
            sql = (
                "INSERT INTO syncs (agent_id, attempt_at, ok, error, last_ok_at, "
                "consecutive_failures) VALUES (?, ?, 1, NULL, ?, 0) "
                "ON CONFLICT(agent_id) DO UPDATE SET attempt_at = excluded.attempt_at, ok = 1, "
                "error = NULL, last_ok_at = excluded.last_ok_at, consecutive_failures = 0"
            )
            params: tuple[Any, ...] = (agent_id, stamp, stamp)
        else:
            sql = (
                "INSERT INTO syncs (agent_id, attempt_at, ok, error, last_ok_at, "
                "consecutive_failures) VALUES (?, ?, 0, ?, NULL, 1) "
                "ON CONFLICT(agent_id) DO UPDATE SET attempt_at = excluded.attempt_at, ok = 0, "
                "error = excluded.error, consecutive_failures = syncs.consecutive_failures + 1"
            )
            params = (agent_id, stamp, error)
        await self._write([(sql, params)])
        record = await self.last_sync(agent_id)
        assert record is not None
        return record

    async def last_sync(self, agent_id: str) -> SyncRecord | None:
        rows = await self._rows(
            f"SELECT {self._SYNC_COLS} FROM syncs WHERE agent_id = ?", (agent_id,)
        )
        return self._sync(rows[0]) if rows else None

    async def all_syncs(self) -> dict[str, SyncRecord]:
        rows = await self._rows(f"SELECT {self._SYNC_COLS} FROM syncs")
        return {r[0]: self._sync(r) for r in rows}


def _prepare_location(file: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    if not file.exists():
        log.warning("state file %s does not exist: starting with empty state", file)


def _set_aside(path: Path, clock: Clock, cause: BaseException) -> Path:
    """Move an unusable state file (and its WAL companions) out of the way."""
    stamp = clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    log.error(
        "state file %s is unusable (%s): moved it to %s and starting with empty state; "
        "slots are rebuilt from the calendar",
        path,
        cause,
        target,
    )
    try:
        path.rename(target)
    except OSError as exc:
        raise StateError(
            f"state file {path} is unusable ({cause}) and could not be moved aside: {exc}"
        ) from exc
    for suffix in ("-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    return target
