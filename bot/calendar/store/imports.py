"""One imported file written in one transaction (DESIGN §10 "Import"): all of it, or nothing.

Every event comes with an id derived from (agent, UID[, RECURRENCE-ID]), so
importing the same file again finds what it made the first time and updates
it instead of adding a copy. What the moderator has already acted on is its
own (§10: for slots it has claimed, its state is authoritative): a slot that
has started or ended is kept as it is, and so is an ended series. A series'
`rrule`, `start` and `timezone` cannot change (§3.1); an import that changes
them is kept out with that reason. A RECURRENCE-ID instance is the series'
occurrence of that id (`<series id>_<nominal>`), changed on its own.

Single events already past when imported are history (§3.2): they are kept
FINISHED with a note saying so, never woken. Instances of an imported series
before the import are history by the series' own rule (§3.1).

The calls here write inside the caller's transaction (`EmbeddedCalendar.
import_batch`), so a refusal anywhere rolls back the whole file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from bot.calendar.ics.outcome import ImportOutcome
from bot.calendar.store.edits import apply_edit
from bot.calendar.store.mirrored import MirroredState, set_mirrored_state
from bot.calendar.store.notify import record_series_change
from bot.calendar.store.occurrences import materialise
from bot.calendar.store.rows import fetch_slot, insert_slot, readable_slot, record_event, to_us
from bot.calendar.store.series import checked_recurrence, fetch_series, insert_series
from bot.calendar.store.series_calls import held_to_rules
from bot.calendar.store.series_edits import apply_series_edit, end_series_now, follow_rule
from bot.calendar.store.transitions import TransitionCall, apply_transition
from bot.core import models
from bot.core.calendar import SlotNotFound
from bot.core.models import SeriesCreate, Slot, SlotCreate, SlotStatus
from bot.core.series import occurrence_id, wall_in
from bot.core.validation import check_local_years

#: The note on a single event imported after its time: history, never woken.
HISTORY_NOTE = "imported after its time: history"
_SLOT_FIELDS = ("scheduled_at", "estimated_duration_min", "priority", "slot_type", "title")
_CONTENT = ("estimated_duration_min", "priority", "slot_type", "title", "prompt", "event_data")


@dataclass(frozen=True, slots=True)
class _Import:
    """Whose file this is and when it is read, the same for every event of it.

    What was due before `history_before` is history, never woken.
    """

    agent_id: str
    now: datetime
    tz: ZoneInfo
    history_before: datetime
    #: A copy of another calendar follows its series' new rules (`follow_rule`); a file
    #: imported into ours does not (a series keeps its rule, DESIGN §3.1).
    follow_rules: bool = False


#: The note of a one-off slot whose event was made recurring.
BECAME_RECURRING = "its event was made recurring: its days are the series' now"


@dataclass(frozen=True, slots=True)
class ImportedSeries:
    """A VEVENT with an RRULE, as the series it becomes under a stable id; `cancelled` (its
    STATUS) ends the series, or makes none."""

    id: str
    name: str
    new: SeriesCreate
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class ImportedSlot:
    """A single VEVENT, or (with `series_id`) a RECURRENCE-ID instance of an imported series.

    `recurrence` is the RECURRENCE-ID: aware, or naive for a wall time in the series' zone.
    `state` is the state another calendar keeps for it (a CalDAV event's `X-MODERATOR-*`),
    copied as it is.
    """

    id: str
    name: str
    new: SlotCreate
    cancelled: bool = False
    series_id: str | None = None
    recurrence: datetime | None = None
    state: MirroredState | None = None


async def _import_series(
    db: aiosqlite.Connection, item: ImportedSeries, outcome: ImportOutcome, at: _Import
) -> None:
    agent_id, now, tz = at.agent_id, at.now, at.tz
    new = held_to_rules(SeriesCreate, item.new.model_dump())
    zone = new.timezone or tz.key
    recurrence = checked_recurrence(new.rrule, new.start, zone, new.exdates)
    try:
        old = await fetch_series(db, item.id, agent_id, tz)
    except SlotNotFound:
        if item.cancelled:
            outcome.skipped.append((item.name, "a cancelled recurring event: nothing to plan"))
            return
        await _cancel_single(db, item.id, agent_id, to_us(now), tz)
        made = await insert_series(
            db, new, recurrence, owner=agent_id, now=at.history_before, tz=tz
        )
        await db.execute("UPDATE series SET id = ? WHERE id = ?", (item.id, made.id))
        await record_series_change(db, item.id, "series_create", to_us(now))
        outcome.created += 1
        return
    if old.ended_at is not None:
        outcome.skipped.append((item.name, "its series has ended; kept as it is"))
        return
    if item.cancelled:
        await end_series_now(db, item.id, agent_id=agent_id, now_us=to_us(now), tz=tz)
        outcome.updated += 1
        return
    fixed = (recurrence.rule, recurrence.start.isoformat(), recurrence.zone.key)
    new_rule = fixed != (old.rrule, old.start, old.timezone)
    if new_rule and not at.follow_rules:
        outcome.skipped.append(
            (
                item.name,
                "its RRULE, DTSTART or time zone changed since it was imported, and a series "
                f"keeps those: end series {old.id} (`calendar series end`) and import again",
            )
        )
        return
    if new_rule:
        await follow_rule(db, old, recurrence, now_us=to_us(now), tz=tz)
        old = await fetch_series(db, item.id, agent_id, tz)
    changes = _changed(old, new, _CONTENT)
    exdates = sorted(moment.isoformat() for moment in recurrence.exdates)
    if exdates != old.exdates:
        changes["exdates"] = exdates
    if not changes:
        # Counted once: a series that only took its new rule was updated, not unchanged.
        if new_rule:
            outcome.updated += 1
        else:
            outcome.unchanged += 1
        return
    edit = held_to_rules(models.SeriesEdit, changes)
    await apply_series_edit(db, item.id, edit, agent_id=agent_id, now_us=to_us(now), tz=tz)
    outcome.updated += 1


async def _import_slot(
    db: aiosqlite.Connection, item: ImportedSlot, outcome: ImportOutcome, at: _Import
) -> None:
    """Create or update the slot of `item`, then copy the state it carries, if any."""
    slot_id = await _import_content(db, item, outcome, at)
    if slot_id is None or item.state is None:
        return
    problem = await set_mirrored_state(db, slot_id, item.state, now_us=to_us(at.now))
    if problem is not None:
        outcome.skipped.append((item.name, problem))


async def _import_content(
    db: aiosqlite.Connection, item: ImportedSlot, outcome: ImportOutcome, at: _Import
) -> str | None:
    """The slot's fields; answers its id when it is there to carry a state."""
    agent_id, now, tz = at.agent_id, at.now, at.tz
    new = held_to_rules(SlotCreate, item.new.model_dump())
    check_local_years(new.scheduled_at, tz, "DTSTART")
    slot_id = item.id
    now_us = to_us(now)
    fresh = False
    if item.series_id is None:
        await _end_series(db, item.id, agent_id, now_us, tz)
    else:
        found = await _occurrence_id(db, item, agent_id, tz)
        if found is None:
            _keep_out(item, outcome, "RECURRENCE-ID names no instance of its series here")
            return None
        slot_id = found
        fresh = await fetch_slot(db, slot_id) is None
        await materialise(db, slot_id, agent_id, now_us=now_us, tz=tz)
    row = await fetch_slot(db, slot_id)
    if row is None and item.series_id is not None:
        reason = "RECURRENCE-ID is before the series was imported: history, not stored"
        _keep_out(item, outcome, reason)
        return None
    if row is None:
        made = _new_slot(slot_id, agent_id, new, item.cancelled, now, at.history_before)
        await insert_slot(db, made)
        await record_event(db, slot_id, now_us, "create", None, made.status, made.note)
        outcome.created += 1
        return slot_id
    old = readable_slot(row, tz)
    if old.agent_id != agent_id:
        _keep_out(item, outcome, f"its id {slot_id} belongs to agent {old.agent_id}")
        return None
    changes = _changed(old, new, (*_SLOT_FIELDS, "prompt", "event_data"))
    wanted = bool(changes) or (item.cancelled and old.status is not SlotStatus.CANCELLED)
    if old.status not in models.PENDING_STATUSES:
        if not wanted:  # e.g. history imported before, or a slot that ran as planned
            outcome.unchanged += 1
        elif item.state is None:
            _keep_out(item, outcome, f"already {old.status.value}: the calendar's state stands")
        return slot_id
    if changes:
        edit = models.SlotEdit.model_validate(changes)
        await apply_edit(db, slot_id, edit, agent_id=agent_id, now_us=now_us, tz=tz)
    if item.cancelled:
        call = TransitionCall.checked(
            slot_id, models.Action.CANCEL, agent_id=agent_id, note="imported"
        )
        await apply_transition(db, call, now_us=now_us, tz=tz)
    if fresh:
        outcome.created += 1
    elif changes or item.cancelled:
        outcome.updated += 1
    else:
        outcome.unchanged += 1
    return slot_id


def _keep_out(item: ImportedSlot, outcome: ImportOutcome, reason: str) -> None:
    outcome.skipped.append((item.name, reason))


def _new_slot(
    slot_id: str,
    agent_id: str,
    new: SlotCreate,
    cancelled: bool,
    now: datetime,
    history_before: datetime,
) -> Slot:
    past = new.scheduled_at < history_before
    status = (
        SlotStatus.CANCELLED
        if cancelled
        else SlotStatus.FINISHED
        if past
        else SlotStatus.NOT_STARTED
    )
    ended = status is not SlotStatus.NOT_STARTED
    return Slot(
        id=slot_id,
        agent_id=agent_id,
        status=status,
        version=1,
        updated_at=now,
        created_at=now,
        ended_at=now if ended else None,
        note=HISTORY_NOTE if status is SlotStatus.FINISHED else None,
        **new.model_dump(exclude={"agent_id", "allow_past"}),
    )


async def _occurrence_id(
    db: aiosqlite.Connection, item: ImportedSlot, agent_id: str, tz: ZoneInfo
) -> str | None:
    assert item.series_id is not None and item.recurrence is not None
    try:
        series = await fetch_series(db, item.series_id, agent_id, tz)
    except SlotNotFound:
        return None
    return occurrence_id(series.id, wall_in(item.recurrence, ZoneInfo(series.timezone)))


async def _cancel_single(
    db: aiosqlite.Connection, slot_id: str, agent_id: str, now_us: int, tz: ZoneInfo
) -> None:
    """A one-off event made recurring (one UID, so one id): its single slot, if it has not
    run, is cancelled, or the first day would be woken twice."""
    row = await fetch_slot(db, slot_id)
    if row is None or row["agent_id"] != agent_id or row["series_id"] is not None:
        return
    if SlotStatus(row["status"]) in models.PENDING_STATUSES:
        call = TransitionCall.checked(slot_id, models.Action.CANCEL, note=BECAME_RECURRING)
        await apply_transition(db, call, now_us=now_us, tz=tz)


async def _end_series(
    db: aiosqlite.Connection, series_id: str, agent_id: str, now_us: int, tz: ZoneInfo
) -> None:
    """A recurring event made one-off again (one UID, so one id): its series ends now."""
    try:
        series = await fetch_series(db, series_id, agent_id, tz)
    except SlotNotFound:
        return
    if series.ended_at is None:
        await end_series_now(db, series_id, agent_id=agent_id, now_us=now_us, tz=tz)


def _changed(
    old: Slot | models.Series, new: SlotCreate | SeriesCreate, names: tuple[str, ...]
) -> dict[str, Any]:
    return {
        name: getattr(new, name)
        for name in names
        if hasattr(old, name) and getattr(old, name) != getattr(new, name)
    }


async def import_all(
    db: aiosqlite.Connection,
    agent_id: str,
    series: Sequence[ImportedSeries],
    slots: Sequence[ImportedSlot],
    *,
    now: datetime,
    tz: ZoneInfo,
    history_before: datetime | None = None,
    follow_rules: bool = False,
) -> ImportOutcome:
    """The series first (their instances need them), then the slots, in the caller's transaction.

    What was due before `history_before` (default: now) is history, never woken.
    """
    outcome = ImportOutcome()
    at = _Import(agent_id, now, tz, history_before or now, follow_rules)
    for one in series:
        await _import_series(db, one, outcome, at)
    for slot in slots:
        await _import_slot(db, slot, outcome, at)
    return outcome
