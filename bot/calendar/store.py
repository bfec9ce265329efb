"""The embedded calendar: DESIGN §3 kept in one SQLite file (or in memory).

It is the default backend, used in-process, and the state behind the calendar
server. Every change goes through one write path: an asyncio lock around a
`BEGIN IMMEDIATE` transaction, so the read-check-write of a transition is
atomic both against other coroutines and against another process (a CLI `add`
while `serve` runs) using the same file. The lock is what makes the claim safe:
two racing `start`s see each other's result, never the same old row.

A `start` may carry a claim key (the moderator's name for that one claim
attempt). It is stored with the slot while the slot is ONGOING/PAUSED, and a
`start` repeating that key is answered with the slot as it is instead of a 409:
the moderator that lost the answer to its claim asks again and learns, from the
file and so across restarts of anything, whether the slot is its own.

Instants are stored as integer microseconds since the epoch (UTC), which sorts
correctly and lets a local day be looked up as an index range.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from bot.core.calendar import (
    BadRequest,
    CalendarUnavailable,
    DayResult,
    SlotNotFound,
    TransitionConflict,
)
from bot.core.clock import Clock, SystemClock
from bot.core.models import (
    ACTIVE_STATUSES,
    AGENT_ID_PATTERN,
    PENDING_STATUSES,
    TRANSITIONS,
    Action,
    AgentState,
    AgentStatus,
    DaySchedule,
    HeartbeatStatus,
    Slot,
    SlotCreate,
    SlotStatus,
    is_valid_agent_id,
    next_status,
)

log = logging.getLogger(__name__)

#: 2 added `slots.claim_key`; a version-1 file is upgraded in place when opened.
SCHEMA_VERSION = 2
#: A heartbeat older than this no longer says anything about the agent (DESIGN §3).
HEARTBEAT_FRESH = timedelta(minutes=10)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (
    id                      TEXT PRIMARY KEY,
    agent_id                TEXT NOT NULL,
    scheduled_at_us         INTEGER NOT NULL,
    estimated_duration_min  INTEGER NOT NULL,
    priority                INTEGER NOT NULL,
    status                  TEXT NOT NULL,
    slot_type               TEXT NOT NULL,
    title                   TEXT NOT NULL,
    prompt                  TEXT NOT NULL,
    event_data              TEXT NOT NULL,
    version                 INTEGER NOT NULL,
    updated_at_us           INTEGER NOT NULL,
    claim_key               TEXT
);
CREATE INDEX IF NOT EXISTS slots_by_agent_time ON slots (agent_id, scheduled_at_us);
CREATE INDEX IF NOT EXISTS slots_by_time ON slots (scheduled_at_us);
CREATE INDEX IF NOT EXISTS slots_by_agent_status ON slots (agent_id, status, scheduled_at_us);
CREATE TABLE IF NOT EXISTS slot_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    slot_id      TEXT NOT NULL,
    at_us        INTEGER NOT NULL,
    action       TEXT NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    note         TEXT
);
CREATE INDEX IF NOT EXISTS slot_events_by_slot ON slot_events (slot_id, seq);
CREATE TABLE IF NOT EXISTS heartbeats (
    agent_id         TEXT PRIMARY KEY,
    status           TEXT NOT NULL,
    current_slot_id  TEXT,
    at_us            INTEGER NOT NULL
);
"""

_SLOT_COLUMNS = (
    "id, agent_id, scheduled_at_us, estimated_duration_min, priority, status, slot_type, "
    "title, prompt, event_data, version, updated_at_us"
)
_ACTIVE_SQL = ", ".join(f"'{s.value}'" for s in sorted(ACTIVE_STATUSES))
_PENDING_SQL = ", ".join(f"'{s.value}'" for s in sorted(PENDING_STATUSES))


#: The longest claim key the calendar keeps (the server refuses longer Idempotency-Keys).
MAX_CLAIM_KEY = 200


@dataclass(frozen=True, slots=True)
class TransitionOutcome:
    """A transition's answer; `replayed` when a `start` repeated the claim key the slot holds."""

    slot: Slot
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class SlotEvent:
    """One accepted change of a slot, with the note that came with it (the slot's history)."""

    slot_id: str
    at: datetime
    action: str
    from_status: SlotStatus | None
    to_status: SlotStatus
    note: str | None


def to_us(value: datetime) -> int:
    """An aware instant as integer microseconds since the epoch (exact, unlike float seconds)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadRequest(f"time {value.isoformat()} has no UTC offset", code="naive_datetime")
    return (value - _EPOCH) // timedelta(microseconds=1)


def from_us(value: int, tz: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(microseconds=value)).astimezone(tz)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """The [start, end) of a local day in epoch microseconds.

    Built from local midnights, so a 23- or 25-hour DST day is covered exactly.
    """
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return to_us(start), to_us(end)


def day_etag(day: date, slots: Iterable[Slot]) -> str:
    """The day's ETag: a hash over the date and the sorted (id, version) pairs, quoted per HTTP."""
    pairs = sorted((slot.id, slot.version) for slot in slots)
    text = day.isoformat() + "|" + ";".join(f"{sid}:{version}" for sid, version in pairs)
    return '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + '"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip('"')


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an `If-None-Match` value (one tag, a list, or `*`) names `etag` (weak compare)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(part) == wanted for part in if_none_match.split(",") if part.strip())


def _check_agent_id(agent_id: str) -> str:
    if not is_valid_agent_id(agent_id):
        raise BadRequest(
            f"agent id {agent_id!r} must match {AGENT_ID_PATTERN}", code="invalid_agent_id"
        )
    return agent_id


def _allowed_from(action: Action) -> str:
    return " or ".join(sorted(s.value for s in TRANSITIONS[action].allowed_from))


class EmbeddedCalendar:
    """The `Calendar` protocol over SQLite, with one connection and one write lock."""

    def __init__(self, db: aiosqlite.Connection, *, timezone: ZoneInfo, clock: Clock) -> None:
        """Use `EmbeddedCalendar.open`; this only wires an already prepared connection."""
        self._db = db
        self._tz = timezone
        self._clock = clock
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(
        cls, path: str | Path, *, timezone: ZoneInfo, clock: Clock | None = None
    ) -> EmbeddedCalendar:
        """Open (creating if needed) the calendar at `path`; `":memory:"` keeps it in memory."""
        where = str(path)
        if where != ":memory:" and not Path(where).parent.is_dir():
            raise CalendarUnavailable(
                f"cannot open the embedded calendar database {where!r}: "
                f"its folder {str(Path(where).parent)!r} does not exist"
            )
        connection = aiosqlite.connect(where, isolation_level=None, timeout=10.0)
        try:
            db = await connection
        except sqlite3.Error as exc:
            await _wait_for_worker(connection)
            raise CalendarUnavailable(
                f"cannot open the embedded calendar database {where!r}: {exc} "
                "(is its folder writable, and is it an SQLite file?)"
            ) from None
        try:
            db.row_factory = sqlite3.Row
            await db.execute("PRAGMA busy_timeout = 10000")
            if where != ":memory:":
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute("PRAGMA synchronous = NORMAL")
            rows = await db.execute_fetchall("PRAGMA user_version")
            found = int(next(iter(rows))[0])
            if found > SCHEMA_VERSION:
                raise CalendarUnavailable(
                    f"the calendar database {where!r} was made by a newer version "
                    f"(schema {found}, this one knows {SCHEMA_VERSION})"
                )
            await db.executescript(_SCHEMA)
            columns = {row[1] for row in await db.execute_fetchall("PRAGMA table_info(slots)")}
            if "claim_key" not in columns:  # a version-1 file: no slot holds a claim key yet
                await db.execute("ALTER TABLE slots ADD COLUMN claim_key TEXT")
            await db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            await db.close()
            raise CalendarUnavailable(
                f"cannot prepare the embedded calendar database {where!r}: {exc}"
            ) from None
        except BaseException:
            await db.close()
            raise
        return cls(db, timezone=timezone, clock=clock or SystemClock())

    # ---- plumbing ------------------------------------------------------

    @property
    def timezone(self) -> ZoneInfo:
        return self._tz

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Reads take the lock too, so they never see a write half done on the shared connection."""
        if self._closed:
            raise CalendarUnavailable("the embedded calendar is closed")
        async with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                log.error("embedded calendar read failed: %s", exc)
                raise CalendarUnavailable(f"embedded calendar error: {exc}") from None

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One atomic transaction; any exception (a refusal included) rolls it back."""
        if self._closed:
            raise CalendarUnavailable("the embedded calendar is closed")
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                log.error("embedded calendar could not start a write: %s", exc)
                raise CalendarUnavailable(f"embedded calendar busy or failing: {exc}") from None
            try:
                yield self._db
            except BaseException as exc:
                try:
                    await self._db.execute("ROLLBACK")
                except sqlite3.Error as rollback_exc:  # pragma: no cover - disk trouble
                    log.error("embedded calendar rollback failed: %s", rollback_exc)
                if isinstance(exc, sqlite3.Error):
                    log.error("embedded calendar write failed: %s", exc)
                    raise CalendarUnavailable(f"embedded calendar error: {exc}") from None
                raise
            try:
                await self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                log.error("embedded calendar commit failed: %s", exc)
                raise CalendarUnavailable(f"embedded calendar error: {exc}") from None

    def _slot(self, row: sqlite3.Row) -> Slot:
        return Slot(
            id=row["id"],
            agent_id=row["agent_id"],
            scheduled_at=from_us(row["scheduled_at_us"], self._tz),
            estimated_duration_min=row["estimated_duration_min"],
            priority=row["priority"],
            status=SlotStatus(row["status"]),
            slot_type=row["slot_type"],
            title=row["title"],
            prompt=row["prompt"],
            event_data=json.loads(row["event_data"]),
            version=row["version"],
            updated_at=from_us(row["updated_at_us"], self._tz),
        )

    def _slots(self, rows: Iterable[sqlite3.Row]) -> list[Slot]:
        return [self._slot(row) for row in rows]

    @staticmethod
    async def _one(db: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Row | None:
        rows = list(await db.execute_fetchall(sql, params))
        return rows[0] if rows else None

    # ---- the Calendar protocol -------------------------------------------

    async def get_day(self, agent_id: str, day: date, etag: str | None = None) -> DayResult:
        _check_agent_id(agent_id)
        start, end = day_bounds(day, self._tz)
        async with self._read() as db:
            rows = await db.execute_fetchall(
                f"SELECT {_SLOT_COLUMNS} FROM slots WHERE agent_id = ? "
                "AND scheduled_at_us >= ? AND scheduled_at_us < ? ORDER BY scheduled_at_us, id",
                (agent_id, start, end),
            )
        slots = self._slots(rows)
        current = day_etag(day, slots)
        if etag is not None and etag_matches(etag, current):
            return DayResult(schedule=None, etag=current)
        schedule = DaySchedule(date=day, agent_id=agent_id, timezone=self._tz.key, slots=slots)
        return DayResult(schedule=schedule, etag=current)

    async def heartbeat(
        self, agent_id: str, status: HeartbeatStatus, current_slot_id: str | None = None
    ) -> list[Slot]:
        """Record liveness; due slots come in selection order (priority, time, id)."""
        _check_agent_id(agent_id)
        try:
            status = HeartbeatStatus(status)
        except ValueError:
            raise BadRequest(
                f"heartbeat status {status!r} must be idle or busy", code="validation_error"
            ) from None
        now = to_us(self._clock.now())
        async with self._write() as db:
            await db.execute(
                "INSERT INTO heartbeats (agent_id, status, current_slot_id, at_us) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET "
                "status = excluded.status, current_slot_id = excluded.current_slot_id, "
                "at_us = excluded.at_us",
                (agent_id, status.value, current_slot_id, now),
            )
            rows = await db.execute_fetchall(
                f"SELECT {_SLOT_COLUMNS} FROM slots WHERE agent_id = ? "
                f"AND status IN ({_PENDING_SQL}) AND scheduled_at_us <= ? "
                "ORDER BY priority DESC, scheduled_at_us, id",
                (agent_id, now),
            )
        return self._slots(rows)

    async def agent_status(self, agent_id: str) -> AgentStatus:
        _check_agent_id(agent_id)
        now = self._clock.now()
        async with self._read() as db:
            active = await self._one(
                db,
                f"SELECT id FROM slots WHERE agent_id = ? AND status IN ({_ACTIVE_SQL}) "
                "ORDER BY status = 'ONGOING' DESC, updated_at_us DESC LIMIT 1",
                (agent_id,),
            )
            beat = await self._one(
                db,
                "SELECT status, current_slot_id, at_us FROM heartbeats WHERE agent_id = ?",
                (agent_id,),
            )
        last_at = from_us(beat["at_us"], self._tz) if beat is not None else None
        fresh = last_at is not None and now - last_at <= HEARTBEAT_FRESH
        if active is not None:
            state, current = AgentState.BUSY, str(active["id"])
        elif beat is not None and fresh and beat["status"] == HeartbeatStatus.BUSY.value:
            state, current = AgentState.BUSY, beat["current_slot_id"]
        elif not fresh:
            state, current = AgentState.OFFLINE, None
        else:
            state, current = AgentState.IDLE, None
        return AgentStatus(
            agent_id=agent_id, status=state, current_slot_id=current, last_heartbeat_at=last_at
        )

    async def create_slot(self, new: SlotCreate, agent_id: str | None = None) -> Slot:
        if new.agent_id and agent_id and new.agent_id != agent_id:
            raise BadRequest(
                f"the body names agent {new.agent_id!r} but the caller is {agent_id!r}",
                code="agent_mismatch",
            )
        owner = new.agent_id or agent_id
        if not owner:
            raise BadRequest(
                "a slot needs an agent: give agent_id in the body or the X-Agent-Id header",
                code="missing_agent_id",
            )
        _check_agent_id(owner)
        try:
            event_data = json.dumps(new.event_data, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise BadRequest(
                f"event_data must be plain JSON: {exc}", code="validation_error"
            ) from None
        scheduled = to_us(new.scheduled_at)
        now = to_us(self._clock.now())
        async with self._write() as db:
            for _ in range(5):
                slot_id = secrets.token_hex(8)
                if await self._one(db, "SELECT 1 FROM slots WHERE id = ?", (slot_id,)) is None:
                    break
            else:  # pragma: no cover - 64 random bits colliding five times
                raise CalendarUnavailable("could not pick a fresh slot id")
            await db.execute(
                f"INSERT INTO slots ({_SLOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    slot_id,
                    owner,
                    scheduled,
                    new.estimated_duration_min,
                    new.priority,
                    SlotStatus.NOT_STARTED.value,
                    new.slot_type,
                    new.title,
                    new.prompt,
                    event_data,
                    1,
                    now,
                ),
            )
            await self._record(db, slot_id, now, "create", None, SlotStatus.NOT_STARTED, None)
            row = await self._one(db, f"SELECT {_SLOT_COLUMNS} FROM slots WHERE id = ?", (slot_id,))
        assert row is not None
        return self._slot(row)

    async def get_slot(self, slot_id: str, agent_id: str | None = None) -> Slot:
        async with self._read() as db:
            row = await self._one(db, f"SELECT {_SLOT_COLUMNS} FROM slots WHERE id = ?", (slot_id,))
        if row is None or (agent_id is not None and row["agent_id"] != agent_id):
            raise SlotNotFound(_not_found(slot_id, agent_id))
        return self._slot(row)

    async def transition(
        self,
        slot_id: str,
        action: Action,
        *,
        agent_id: str | None = None,
        expected_version: int | None = None,
        note: str | None = None,
        until: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> Slot:
        """Compare-and-set one transition; refusals are `TransitionConflict` carrying the slot.

        `idempotency_key` is kept only for `start` (the claim key, see the module
        docstring); other actions ignore it here, as nothing of theirs needs a
        durable replay.
        """
        outcome = await self.transition_outcome(
            slot_id,
            action,
            agent_id=agent_id,
            expected_version=expected_version,
            note=note,
            until=until,
            idempotency_key=idempotency_key,
        )
        return outcome.slot

    async def transition_outcome(
        self,
        slot_id: str,
        action: Action,
        *,
        agent_id: str | None = None,
        expected_version: int | None = None,
        note: str | None = None,
        until: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> TransitionOutcome:
        """`transition`, also telling a replayed claim from one applied now (the server says so)."""
        try:
            action = Action(action)
        except ValueError:
            raise BadRequest(
                f"unknown action {action!r}; one of {', '.join(a.value for a in Action)}",
                code="unknown_action",
            ) from None
        if until is not None and action is not Action.DEFER:
            raise BadRequest(
                f"`until` is only for defer, not {action.value}", code="until_only_for_defer"
            )
        new_time = to_us(until) if until is not None else None
        if action is Action.RELEASE and expected_version is None:
            raise BadRequest(
                "release needs expected_version (the version the claim produced), so a stale "
                "release cannot give back a slot someone else holds now",
                code="expected_version_required",
            )
        claim_key = (idempotency_key or None) if action is Action.START else None
        if claim_key is not None and len(claim_key) > MAX_CLAIM_KEY:
            raise BadRequest(
                f"a claim key must be at most {MAX_CLAIM_KEY} characters",
                code="bad_idempotency_key",
            )
        now = to_us(self._clock.now())
        async with self._write() as db:
            row = await self._one(
                db, f"SELECT {_SLOT_COLUMNS}, claim_key FROM slots WHERE id = ?", (slot_id,)
            )
            if row is None or (agent_id is not None and row["agent_id"] != agent_id):
                raise SlotNotFound(_not_found(slot_id, agent_id))
            slot = self._slot(row)
            if claim_key is not None and slot.status.is_active and row["claim_key"] == claim_key:
                # The same claim again (its first answer was lost): it is the caller's.
                # Answered before the version check, since the claim itself moved the version.
                return TransitionOutcome(slot, replayed=True)
            if expected_version is not None and expected_version != slot.version:
                raise TransitionConflict(
                    f"slot {slot_id} is at version {slot.version}, not {expected_version} "
                    f"(it changed since it was read; it is {slot.status.value} now)",
                    code="version_mismatch",
                    slot=slot,
                )
            target = next_status(action, slot.status)
            if target is None:
                raise TransitionConflict(
                    f"cannot {action.value} slot {slot_id}: it is {slot.status.value}, and "
                    f"{action.value} needs {_allowed_from(action)}",
                    code="invalid_transition",
                    slot=slot,
                )
            if action is Action.START:
                other = await self._one(
                    db,
                    f"SELECT id, status FROM slots WHERE agent_id = ? AND id != ? "
                    f"AND status IN ({_ACTIVE_SQL}) LIMIT 1",
                    (slot.agent_id, slot_id),
                )
                if other is not None:
                    raise TransitionConflict(
                        f"agent {slot.agent_id} already holds slot {other['id']} "
                        f"({other['status']}); one slot at a time",
                        code="agent_busy",
                        slot=slot,
                    )
            # The claim key lives exactly as long as the claim: set by start, kept
            # through pause/resume, gone when the slot is released or ends.
            if action is Action.START:
                kept_key = claim_key
            else:
                kept_key = row["claim_key"] if target.is_active else None
            cursor = await db.execute(
                "UPDATE slots SET status = ?, version = version + 1, updated_at_us = ?, "
                "scheduled_at_us = COALESCE(?, scheduled_at_us), claim_key = ? "
                "WHERE id = ? AND version = ?",
                (target.value, now, new_time, kept_key, slot_id, slot.version),
            )
            changed = cursor.rowcount
            await cursor.close()
            if changed != 1:  # pragma: no cover - only another process without our lock
                raise TransitionConflict(
                    f"slot {slot_id} changed under the transition", code="version_mismatch"
                )
            await self._record(db, slot_id, now, action.value, slot.status, target, note)
            updated = await self._one(
                db, f"SELECT {_SLOT_COLUMNS} FROM slots WHERE id = ?", (slot_id,)
            )
        assert updated is not None
        return TransitionOutcome(self._slot(updated))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await self._db.close()

    # ---- beyond the protocol (CLI, server, tests) --------------------------

    async def list_slots(self, day: date | None = None, agent_id: str | None = None) -> list[Slot]:
        """Slots of every agent (or one), on one local day or all of them, by time then id."""
        clauses: list[str] = []
        params: list[Any] = []
        if day is not None:
            start, end = day_bounds(day, self._tz)
            clauses.append("scheduled_at_us >= ? AND scheduled_at_us < ?")
            params += [start, end]
        if agent_id is not None:
            clauses.append("agent_id = ?")
            params.append(agent_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        async with self._read() as db:
            rows = await db.execute_fetchall(
                f"SELECT {_SLOT_COLUMNS} FROM slots{where} ORDER BY scheduled_at_us, id", params
            )
        return self._slots(rows)

    async def agent_ids(self) -> list[str]:
        """Every agent the calendar knows, from its slots or its heartbeats."""
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT agent_id FROM slots UNION SELECT agent_id FROM heartbeats ORDER BY 1"
            )
        return [str(row[0]) for row in rows]

    async def slot_events(self, slot_id: str) -> list[SlotEvent]:
        """The slot's history, oldest first: every accepted change and its note."""
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT slot_id, at_us, action, from_status, to_status, note FROM slot_events "
                "WHERE slot_id = ? ORDER BY seq",
                (slot_id,),
            )
        return [
            SlotEvent(
                slot_id=row["slot_id"],
                at=from_us(row["at_us"], self._tz),
                action=row["action"],
                from_status=SlotStatus(row["from_status"]) if row["from_status"] else None,
                to_status=SlotStatus(row["to_status"]),
                note=row["note"],
            )
            for row in rows
        ]

    @staticmethod
    async def _record(
        db: aiosqlite.Connection,
        slot_id: str,
        at_us: int,
        action: str,
        from_status: SlotStatus | None,
        to_status: SlotStatus,
        note: str | None,
    ) -> None:
        await db.execute(
            "INSERT INTO slot_events (slot_id, at_us, action, from_status, to_status, note) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                slot_id,
                at_us,
                action,
                from_status.value if from_status else None,
                to_status.value,
                note,
            ),
        )


def _not_found(slot_id: str, agent_id: str | None) -> str:
    suffix = f" for agent {agent_id}" if agent_id is not None else ""
    return f"no slot {slot_id!r}{suffix}"


async def _wait_for_worker(connection: aiosqlite.Connection) -> None:
    """Let a failed connection's worker thread finish while our loop still runs.

    aiosqlite stops that thread without awaiting it; if the loop closes first,
    the thread dies on "Event loop is closed" and the failure is reported twice.
    """
    thread = getattr(connection, "_thread", None)
    if isinstance(thread, threading.Thread) and thread.is_alive():
        await asyncio.to_thread(thread.join, 5.0)
