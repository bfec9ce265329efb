"""A series' occurrences (DESIGN §3.1): virtual until their first own change, then rows.

An occurrence nobody touched is not stored: it is computed from its series
(`bot.core.series.Recurrence`) whenever a day, a range, a slot or a heartbeat
is read, with the series' fields and version. Its first own change (a claim,
a defer, a cancel, a PATCH) first writes it as a row (`materialise`), in the
same write transaction as the change, after checking that the series still
has that instance (not ended, not exdated, not before the series was made);
a refused change rolls the row back with it. A row overrides the instance of
the same id wherever it has moved, so an occurrence is never listed twice.

Which instances exist: those at or after the series' `created_at` (earlier
ones are history, never due, and not listed) and, once it is ended, at or
before its `ended_at`.

Superseded instances (only the latest due instance of a series is woken):
an untouched instance at or before now that is not the series' latest due
one *reads* as ABORTED with the note `superseded`. That is decided when it
is read, so nothing has to be written for the instances an outage skipped
(there may be thousands), and a claim of one is refused like a claim of any
ABORTED slot (409 `invalid_transition`). An occurrence already stored and
still waiting that a newer due one overtakes is written ABORTED `superseded`
by the heartbeat that sees both. The day's ETag covers each slot's status,
so such a change shows even though an untouched occurrence keeps its version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.calendar.store.dialect import Db
from bot.calendar.store.rows import fetch_slot, from_us, insert_slot, record_event, to_us
from bot.calendar.store.series import SERIES_COLUMNS, recurrence_of, series_from_row
from bot.core.models import PENDING_STATUSES, Action, Series, Slot, SlotStatus
from bot.core.series import Instance, Recurrence, occurrence_id, split_occurrence_id

SUPERSEDED = "superseded"


@dataclass
class SeriesView:
    """A series with its recurrence, answering which of its instances exist and how they read."""

    series: Series
    recurrence: Recurrence
    _latest: dict[datetime, Instance | None] = field(default_factory=dict)

    @classmethod
    def of(cls, series: Series) -> SeriesView:
        return cls(series, recurrence_of(series))

    def between(self, start: datetime, end: datetime) -> list[Instance]:
        """The existing instances with `start <= at < end`."""
        start = max(start, self.series.created_at)
        if self.series.ended_at is not None:
            end = min(end, self.series.ended_at + timedelta(microseconds=1))
        return self.recurrence.between(start, end) if start < end else []

    def latest_due(self, now: datetime) -> Instance | None:
        """The latest existing instance at or before `now`: the one that may be woken."""
        if now not in self._latest:
            until = now if self.series.ended_at is None else min(now, self.series.ended_at)
            found = self.recurrence.latest(until)
            if found is not None and found.at < self.series.created_at:
                found = None
            self._latest[now] = found
        return self._latest[now]

    def holds(self, nominal: datetime) -> Instance | None:
        instance = self.recurrence.holds(nominal)
        if instance is None or instance.at < self.series.created_at:
            return None
        if self.series.ended_at is not None and instance.at > self.series.ended_at:
            return None
        return instance

    def virtual(self, instance: Instance, now: datetime, tz: ZoneInfo) -> Slot:
        """The untouched occurrence of `instance` as it reads at `now`."""
        series = self.series
        latest = self.latest_due(now)
        superseded = instance.at <= now and latest is not None and instance.at < latest.at
        return Slot(
            id=occurrence_id(series.id, instance),
            agent_id=series.agent_id,
            scheduled_at=instance.at.astimezone(tz),
            estimated_duration_min=series.estimated_duration_min,
            priority=series.priority,
            status=SlotStatus.ABORTED if superseded else SlotStatus.NOT_STARTED,
            slot_type=series.slot_type,
            title=series.title,
            prompt=series.prompt,
            event_data=series.event_data,
            version=series.version,
            updated_at=series.updated_at,
            series_id=series.id,
            created_at=series.created_at,
            ended_at=latest.at.astimezone(tz) if superseded and latest is not None else None,
            note=SUPERSEDED if superseded else None,
        )


async def series_views(
    db: Db, agent_id: str, tz: ZoneInfo, *, running_only: bool = False
) -> list[SeriesView]:
    extra = " AND ended_at_us IS NULL" if running_only else ""
    rows = await db.execute_fetchall(
        f"SELECT {SERIES_COLUMNS} FROM series WHERE agent_id = ?{extra} ORDER BY id", (agent_id,)
    )
    return [SeriesView.of(series_from_row(row, tz)) for row in rows]


async def stored_ids(db: Db, series_id: str) -> set[str]:
    """The ids of the series' occurrences that are rows (changed on their own)."""
    rows = await db.execute_fetchall("SELECT id FROM slots WHERE series_id = ?", (series_id,))
    return {str(row[0]) for row in rows}


async def occurrences_between(
    db: Db,
    agent_id: str,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    tz: ZoneInfo,
) -> list[Slot]:
    """The agent's untouched occurrences with `start <= scheduled_at < end` (rows left out)."""
    found: list[Slot] = []
    for view in await series_views(db, agent_id, tz):
        instances = view.between(start, end)
        if not instances:
            continue
        stored = await stored_ids(db, view.series.id)
        found += [
            view.virtual(instance, now, tz)
            for instance in instances
            if occurrence_id(view.series.id, instance) not in stored
        ]
    return found


async def _view_of_occurrence(
    db: Db, slot_id: str, agent_id: str | None, tz: ZoneInfo
) -> tuple[SeriesView, Instance] | None:
    parts = split_occurrence_id(slot_id)
    if parts is None:
        return None
    series_id, nominal = parts
    rows = list(
        await db.execute_fetchall(f"SELECT {SERIES_COLUMNS} FROM series WHERE id = ?", (series_id,))
    )
    if not rows or (agent_id is not None and rows[0]["agent_id"] != agent_id):
        return None
    view = SeriesView.of(series_from_row(rows[0], tz))
    instance = view.holds(nominal)
    if instance is None or occurrence_id(series_id, instance) != slot_id:
        return None
    return view, instance


async def virtual_occurrence(
    db: Db, slot_id: str, agent_id: str | None, *, now: datetime, tz: ZoneInfo
) -> Slot | None:
    """The untouched occurrence `slot_id` names, or None (no such instance, or it is a row)."""
    found = await _view_of_occurrence(db, slot_id, agent_id, tz)
    if found is None or await fetch_slot(db, slot_id) is not None:
        return None
    view, instance = found
    return view.virtual(instance, now, tz)


async def materialise(
    db: Db, slot_id: str, agent_id: str | None, *, now_us: int, tz: ZoneInfo
) -> None:
    """Write the untouched occurrence `slot_id` as a row, if it is one; inside the caller's
    transaction, so the change that needed it commits or rolls back with it."""
    slot = await virtual_occurrence(db, slot_id, agent_id, now=from_us(now_us, tz), tz=tz)
    if slot is not None:
        await insert_slot(db, slot)
        await record_event(db, slot_id, now_us, "occurrence", None, slot.status, slot.note)


async def supersede(db: Db, slot: Slot, now_us: int) -> None:
    """A stored occurrence still waiting, overtaken by a newer due one: ABORTED `superseded`."""
    await db.execute(
        "UPDATE slots SET status = ?, version = version + 1, updated_at_us = ?, "
        "ended_at_us = ?, note = ?, claim_key = NULL WHERE id = ? AND version = ?",
        (SlotStatus.ABORTED.value, now_us, now_us, SUPERSEDED, slot.id, slot.version),
    )
    await record_event(
        db, slot.id, now_us, Action.ABORT.value, slot.status, SlotStatus.ABORTED, SUPERSEDED
    )


async def due_slots(
    db: Db,
    stored_due: Iterable[Slot],
    agent_id: str,
    *,
    now_us: int,
    tz: ZoneInfo,
) -> list[Slot]:
    """The agent's due slots: the stored ones plus, per series, only its latest due occurrence.

    A stored occurrence overtaken by a newer due one of its series is superseded here.
    """
    now = from_us(now_us, tz)
    due: list[Slot] = []
    by_series: dict[str, list[Slot]] = {}
    for slot in stored_due:
        if slot.series_id is None:
            due.append(slot)
        else:
            by_series.setdefault(slot.series_id, []).append(slot)
    for view in await series_views(db, agent_id, tz, running_only=True):
        candidates = by_series.pop(view.series.id, [])
        stored = {slot.id for slot in candidates}
        latest = view.latest_due(now)
        if latest is not None:
            slot_id = occurrence_id(view.series.id, latest)
            if await fetch_slot(db, slot_id) is None:
                candidates.append(view.virtual(latest, now, tz))
        if not candidates:
            continue
        keep = max(candidates, key=lambda slot: (slot.scheduled_at, slot.id))
        due.append(keep)
        for slot in candidates:
            if slot is not keep and slot.id in stored and slot.status in PENDING_STATUSES:
                await supersede(db, slot, now_us)
    for leftovers in by_series.values():  # an ended series' stored occurrences
        due += leftovers
    due.sort(key=lambda slot: (-slot.priority, to_us(slot.scheduled_at), slot.id))
    return due
