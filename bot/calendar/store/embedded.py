"""`EmbeddedCalendar`: the `Calendar` protocol kept in one SQLite file (or in memory).

It is the default backend, used in-process, and the state behind the calendar
server. Every change is a `BEGIN IMMEDIATE` transaction under one asyncio lock,
so the read-check-write of a transition is atomic both against other
coroutines and against another process (a CLI `add` while `serve` runs) using
the same file: two racing `start`s see each other's result, never the same old
row. The busy writes (transitions, heartbeats, new and edited slots) go through
the group commit (`group_commit`): written as steps, several share one
transaction and one trip to the connection's thread, each in its own savepoint;
the protocol's reads are one trip each (`in_thread`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar, Unpack
from zoneinfo import ZoneInfo

import aiosqlite

from bot.calendar.store.agents import beat, checked_batch, read_agent_status
from bot.calendar.store.days import day_bounds, day_etag, etag_matches
from bot.calendar.store.dialect import Row
from bot.calendar.store.group_commit import GroupCommit, unavailable
from bot.calendar.store.in_thread import Step, run_now
from bot.calendar.store.listings import ListingCalls
from bot.calendar.store.mirror_calls import MirrorCalls
from bot.calendar.store.notify import ChangeWatch
from bot.calendar.store.occurrences import (
    occurrences_between,
    virtual_occurrence,
)
from bot.calendar.store.replays import ReplayCalls
from bot.calendar.store.rows import (
    SLOT_COLUMNS,
    fetch_slot,
    fresh_id,
    from_us,
    insert_slot,
    not_found,
    readable_slot,
    readable_slots,
    record_event,
    to_us,
)
from bot.calendar.store.schema import CALENDAR_FILE, open_database
from bot.calendar.store.series_calls import SeriesCalls
from bot.calendar.store.transitions import TransitionCall, TransitionOutcome
from bot.core.calendar import (
    BATCH_HEARTBEAT_FEATURE,
    BadRequest,
    CalendarUnavailable,
    DayResult,
    SlotNotFound,
    TransitionOptions,
)
from bot.core.clock import Clock, SystemClock
from bot.core.commit_rounds import in_thread
from bot.core.limits import ID_MAX
from bot.core.models import (
    Action,
    AgentHeartbeat,
    AgentStatus,
    DaySchedule,
    HeartbeatStatus,
    Slot,
    SlotCreate,
    SlotEdit,
    SlotStatus,
)
from bot.core.sqlite_file import DatabaseKind
from bot.core.validation import (
    check_agent_id,
    check_day,
    check_known_agent,
    check_new_slot,
    check_range,
    parse_heartbeat_status,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What `GET /calendar` lists beyond API 2's own calls (DESIGN §3).
FEATURES: frozenset[str] = frozenset({"series", BATCH_HEARTBEAT_FEATURE})


class EmbeddedCalendar(SeriesCalls, ListingCalls, MirrorCalls, ReplayCalls):
    """The `Calendar` protocol over SQLite, with one connection and one write lock."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        *,
        timezone: ZoneInfo,
        clock: Clock,
        agents: Iterable[str] | None = None,
    ) -> None:
        """Use `EmbeddedCalendar.open`; this only wires an already prepared connection."""
        self._db = db
        self._tz = timezone
        self._clock = clock
        #: The agents it was given (AGENTS_FILE where it runs); None takes any well-formed id.
        self._agents = frozenset(agents) if agents is not None else None
        self._lock = asyncio.Lock()
        self._closed = False
        #: `ChangeSource`: `await calendar.changes.follow(listener)` hears of every commit.
        self.changes = ChangeWatch(clock, self._read)
        self._commits = GroupCommit(db, self._lock, functools.partial(self.changes.committed, db))

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        timezone: ZoneInfo,
        clock: Clock | None = None,
        agents: Iterable[str] | None = None,
        kind: DatabaseKind = CALENDAR_FILE,
    ) -> EmbeddedCalendar:
        """Open (creating if needed) the calendar at `path`; `":memory:"` keeps it in memory.

        Given `agents`, a write for any other agent is refused (`unknown_agent`). `kind`
        `CALDAV_COPY` opens the CalDAV backend's copy (set aside and rebuilt when corrupt).
        """
        clock = clock or SystemClock()
        db = await open_database(str(path), kind=kind, now=clock.now())
        return cls(db, timezone=timezone, clock=clock, agents=agents)

    # ---- plumbing ------------------------------------------------------

    @property
    def timezone(self) -> ZoneInfo:
        return self._tz

    def now(self) -> datetime:
        """The calendar's clock, for what is windowed around now (the ICS feed)."""
        return self._clock.now()

    def _ensure_open(self) -> None:
        if self._closed:
            raise CalendarUnavailable("the embedded calendar is closed")

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        """Reads take the lock too, so they never see a write half done on the shared connection."""
        self._ensure_open()
        async with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                log.error("embedded calendar read failed: %s", exc)
                raise CalendarUnavailable(f"embedded calendar error: {exc}") from None

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One atomic transaction; any exception (a refusal included) rolls it back."""
        self._ensure_open()
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
            await self.changes.committed(self._db)

    async def _write_step(self, step: Step[T]) -> T:
        """`step` as one atomic write, maybe sharing its commit with others (`group_commit`)."""
        self._ensure_open()
        return await self._commits.write(step)

    async def _read_step(self, step: Step[T]) -> T:
        """`step` as one read in one trip to the connection's thread, under the lock."""
        self._ensure_open()
        async with self._lock:
            try:
                return await in_thread(self._db, run_now, step)
            except sqlite3.Error as exc:
                raise unavailable("read", exc) from None

    def _slots(self, rows: Iterable[sqlite3.Row]) -> list[Slot]:
        return readable_slots(rows, self._tz)

    async def _in_span(
        self, db: aiosqlite.Connection, agent_id: str, now: datetime, *span: int
    ) -> list[Slot]:
        """The agent's slots and untouched occurrences in [start, end) µs, by time then id."""
        rows = await db.execute_fetchall(
            f"SELECT {SLOT_COLUMNS} FROM slots WHERE agent_id = ? AND scheduled_at_us >= ? "
            "AND scheduled_at_us < ? ORDER BY scheduled_at_us, id",
            (agent_id, *span),
        )
        start, end = (from_us(us, self._tz) for us in span)
        virtual = await occurrences_between(db, agent_id, start, end, now=now, tz=self._tz)
        slots = self._slots(rows) + virtual
        slots.sort(key=lambda slot: (to_us(slot.scheduled_at), slot.id))
        return slots

    # ---- the Calendar protocol -------------------------------------------

    async def get_day(self, agent_id: str, day: date, etag: str | None = None) -> DayResult:
        check_agent_id(agent_id)
        check_day(day)
        span, now = day_bounds(day, self._tz), self._clock.now()
        slots = await self._read_step(lambda db: self._in_span(db, agent_id, now, *span))
        current = day_etag(day, slots)
        if etag is not None and etag_matches(etag, current):
            return DayResult(schedule=None, etag=current)
        schedule = DaySchedule(date=day, agent_id=agent_id, timezone=self._tz.key, slots=slots)
        return DayResult(schedule=schedule, etag=current)

    async def heartbeat(
        self, agent_id: str, status: HeartbeatStatus, current_slot_id: str | None = None
    ) -> list[Slot]:
        """Record liveness; due slots come in selection order (priority, time, id)."""
        check_known_agent(agent_id, self._agents)
        status = parse_heartbeat_status(status)
        if current_slot_id is not None and not 0 < len(current_slot_id) <= ID_MAX:
            raise BadRequest(
                f"current_slot_id must be 1 to {ID_MAX} characters", code="validation_error"
            )
        now = to_us(self._clock.now())
        return await self._write_step(
            lambda db: beat(db, agent_id, status, current_slot_id, now_us=now, tz=self._tz)
        )

    async def heartbeat_many(self, beats: Sequence[AgentHeartbeat]) -> dict[str, list[Slot]]:
        """Every entry's heartbeat in one transaction: all are kept, or (refused) none."""
        entries = checked_batch(beats, self._agents)
        now = to_us(self._clock.now())

        async def step(db: aiosqlite.Connection) -> dict[str, list[Slot]]:
            due: dict[str, list[Slot]] = {}
            for entry in entries:
                due[entry.agent_id] = await beat(
                    db, entry.agent_id, entry.status, entry.current_slot_id, now_us=now, tz=self._tz
                )
            return due

        return await self._write_step(step)

    async def agent_status(self, agent_id: str) -> AgentStatus:
        check_agent_id(agent_id)
        now = self._clock.now()
        return await self._read_step(
            lambda db: read_agent_status(db, agent_id, now=now, tz=self._tz)
        )

    def _owner(self, named: str | None, acting: str | None) -> str:
        """The agent a new slot or series is for: the body's, or the caller's."""
        if named and acting and named != acting:
            raise BadRequest(
                f"the body names agent {named!r} but the caller is {acting!r}",
                code="agent_mismatch",
            )
        owner = named or acting
        if not owner:
            raise BadRequest(
                "name the agent: give agent_id in the body or the X-Agent-Id header",
                code="missing_agent_id",
            )
        check_known_agent(owner, self._agents)
        return owner

    async def create_slot(self, new: SlotCreate, agent_id: str | None = None) -> Slot:
        owner = self._owner(new.agent_id, agent_id)
        clock_now = self._clock.now()
        new = check_new_slot(new, tz=self._tz, now=clock_now, known=self._agents)

        async def step(db: aiosqlite.Connection) -> Row | None:
            slot_id = await fresh_id(db, "slots", "slot")
            fields = new.model_dump(exclude={"agent_id", "allow_past"})
            slot = Slot(
                id=slot_id,
                agent_id=owner,
                status=SlotStatus.NOT_STARTED,
                version=1,
                updated_at=clock_now,
                created_at=clock_now,
                **fields,
            )
            await insert_slot(db, slot)
            now = to_us(clock_now)
            await record_event(db, slot_id, now, "create", None, SlotStatus.NOT_STARTED, None)
            return await fetch_slot(db, slot_id)

        row = await self._write_step(step)
        assert row is not None
        return readable_slot(row, self._tz)

    async def get_slot(self, slot_id: str, agent_id: str | None = None) -> Slot:
        now = self._clock.now()

        async def step(db: aiosqlite.Connection) -> Row | Slot | None:
            row = await fetch_slot(db, slot_id)
            if row is None:
                return await virtual_occurrence(db, slot_id, agent_id, now=now, tz=self._tz)
            return row

        row = await self._read_step(step)
        if isinstance(row, Slot):
            return row
        if row is None or (agent_id is not None and row["agent_id"] != agent_id):
            raise SlotNotFound(not_found(slot_id, agent_id))
        return readable_slot(row, self._tz)

    async def transition(
        self,
        slot_id: str,
        action: Action,
        **options: Unpack[TransitionOptions],
    ) -> Slot:
        """Compare-and-set one transition; refusals are `TransitionConflict` carrying the slot.

        `idempotency_key` is kept only for `start` (the claim key, see
        `bot.calendar.store.transitions`); other actions ignore it here, as
        nothing of theirs needs a durable replay.
        """
        return (await self.apply(TransitionCall.checked(slot_id, action, **options))).slot

    async def apply(self, call: TransitionCall) -> TransitionOutcome:
        """`transition`, also telling a replayed claim from one applied now (the server says so)."""
        return await self._write_step(self.transition_step(call))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._commits.drain()
        await self.changes.stop()
        async with self._lock:
            await self._db.close()

    async def edit_slot(self, slot_id: str, edit: SlotEdit, agent_id: str | None = None) -> Slot:
        return await self._write_step(self.edit_step(slot_id, edit, agent_id))

    async def list_range(
        self, agent_id: str, start: datetime, end: datetime, status: SlotStatus | None = None
    ) -> list[Slot]:
        check_agent_id(agent_id)
        check_range(start, end)
        span = (to_us(start), to_us(end))
        now = self._clock.now()
        slots = await self._read_step(lambda db: self._in_span(db, agent_id, now, *span))
        return [slot for slot in slots if status is None or slot.status is status]

    async def features(self) -> frozenset[str]:
        return FEATURES
