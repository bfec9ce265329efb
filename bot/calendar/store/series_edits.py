"""Editing and ending a series (`PATCH` / `DELETE /calendar/series/{id}`, DESIGN §3.1).

Both run inside the caller's write transaction, so a claim of one of the
series' occurrences (which takes the same lock) happens wholly before or
wholly after them: the claimed occurrence is a row and keeps its state, or
the claim finds the instance gone or cancelled. Never an orphan.

An edit applies to the instances after now: the latest due instance, if it
is still untouched, is first written as a row with the fields it had, so it
is not changed under an agent about to be woken for it. Ending writes that
instance too and cancels every stored occurrence still waiting.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from zoneinfo import ZoneInfo

from bot.calendar.store.dialect import Db
from bot.calendar.store.notify import record_series_change
from bot.calendar.store.occurrences import SeriesView, materialise
from bot.calendar.store.rows import PENDING_SQL, from_us, record_event
from bot.calendar.store.series import (
    checked_recurrence,
    fetch_series,
    wall_texts,
)
from bot.core.calendar import TransitionConflict
from bot.core.models import Action, Series, SeriesEdit, SlotStatus
from bot.core.series import Recurrence, occurrence_id, split_occurrence_id

SERIES_ENDED_NOTE = "series ended"
#: The note of a stored occurrence whose day was taken out of its series (an EXDATE).
DAY_TAKEN_OUT_NOTE = "its day was taken out of the series"
#: The note of a stored occurrence whose day the series' new rule no longer has.
RULE_CHANGED_NOTE = "its series got a new rule in the calendar, without this day"


async def _keep_due_instance(db: Db, series: Series, *, now_us: int, tz: ZoneInfo) -> None:
    """Write the series' latest due instance as a row if it is untouched, as it reads now."""
    latest = SeriesView.of(series).latest_due(from_us(now_us, tz))
    if latest is not None:
        await materialise(db, occurrence_id(series.id, latest), None, now_us=now_us, tz=tz)


def _refuse_ended(series: Series) -> None:
    if series.ended_at is not None:
        raise TransitionConflict(
            f"series {series.id} ended at {series.ended_at.isoformat()}; it cannot change",
            code="series_ended",
        )


async def apply_series_edit(
    db: Db,
    series_id: str,
    edit: SeriesEdit,
    *,
    agent_id: str | None,
    now_us: int,
    tz: ZoneInfo,
) -> Series:
    series = await fetch_series(db, series_id, agent_id, tz)
    _refuse_ended(series)
    if edit.expected_version is not None and edit.expected_version != series.version:
        raise TransitionConflict(
            f"series {series_id} is at version {series.version}, not {edit.expected_version} "
            "(it changed since it was read)",
            code="version_mismatch",
        )
    changes = edit.changes()
    taken_out: set[str] = set()
    if "exdates" in changes:
        recurrence = checked_recurrence(
            series.rrule, series.start, series.timezone, changes["exdates"]
        )
        changes["exdates"] = json.dumps(wall_texts(recurrence.exdates))
        before = set(series.exdates)
        taken_out = {
            occurrence_id(series_id, wall)
            for wall in recurrence.exdates
            if wall.isoformat() not in before
        }
    if "event_data" in changes:
        changes["event_data"] = json.dumps(changes["event_data"], ensure_ascii=False)
    await _keep_due_instance(db, series, now_us=now_us, tz=tz)
    assignments = ", ".join(f"{name} = ?" for name in changes)
    await db.execute(
        f"UPDATE series SET {assignments}, version = version + 1, updated_at_us = ? WHERE id = ?",
        (*changes.values(), now_us, series_id),
    )
    if taken_out:  # a day taken out may be stored already (moved or edited, or due): it goes too
        await _cancel_waiting(db, series_id, DAY_TAKEN_OUT_NOTE, now_us, taken_out.__contains__)
    await record_series_change(db, series_id, "series_edit", now_us)
    return await fetch_series(db, series_id, None, tz)


async def _cancel_waiting(
    db: Db,
    series_id: str,
    note: str,
    now_us: int,
    which: Callable[[str], bool] = lambda _slot_id: True,
) -> None:
    """Cancel the series' stored occurrences that have not run (those `which` names)."""
    waiting = await db.execute_fetchall(
        f"SELECT id, status FROM slots WHERE series_id = ? AND status IN ({PENDING_SQL})",
        (series_id,),
    )
    for row in waiting:
        if not which(str(row["id"])):
            continue
        await db.execute(
            "UPDATE slots SET status = ?, version = version + 1, updated_at_us = ?, "
            "ended_at_us = ?, note = ? WHERE id = ?",
            (SlotStatus.CANCELLED.value, now_us, now_us, note, row["id"]),
        )
        await record_event(
            db,
            str(row["id"]),
            now_us,
            Action.CANCEL.value,
            SlotStatus(row["status"]),
            SlotStatus.CANCELLED,
            note,
        )


async def follow_rule(
    db: Db, series: Series, recurrence: Recurrence, *, now_us: int, tz: ZoneInfo
) -> None:
    """A copied series whose event got a new RRULE, DTSTART or zone in the other calendar
    (CalDAV, DESIGN §10): the copy follows it from now on. Its instances start anew at
    `now` (what the new rule had before is not woken late), stored occurrences the new rule
    no longer has and that have not run are cancelled, held and ended ones stay. A series
    the API keeps keeps its rule (§3.1); a copy keeps what the calendar says."""

    def not_in_rule(slot_id: str) -> bool:
        split = split_occurrence_id(slot_id)
        return split is None or recurrence.holds(split[1]) is None

    await _cancel_waiting(db, series.id, RULE_CHANGED_NOTE, now_us, not_in_rule)
    await db.execute(
        "UPDATE series SET rrule = ?, start = ?, timezone = ?, exdates = ?, "
        "created_at_us = CASE WHEN created_at_us < ? THEN ? ELSE created_at_us END, "
        "version = version + 1, updated_at_us = ? WHERE id = ?",
        (
            recurrence.rule,
            recurrence.start.isoformat(),
            recurrence.zone.key,
            json.dumps(wall_texts(recurrence.exdates)),
            now_us,
            now_us,
            now_us,
            series.id,
        ),
    )
    await record_series_change(db, series.id, "series_edit", now_us)


async def end_series_now(
    db: Db,
    series_id: str,
    *,
    agent_id: str | None,
    now_us: int,
    tz: ZoneInfo,
) -> Series:
    """End the series; ending an ended series answers it as it is."""
    series = await fetch_series(db, series_id, agent_id, tz)
    if series.ended_at is not None:
        return series
    await _keep_due_instance(db, series, now_us=now_us, tz=tz)
    await _cancel_waiting(db, series_id, SERIES_ENDED_NOTE, now_us)
    await db.execute(
        "UPDATE series SET ended_at_us = ?, version = version + 1, updated_at_us = ? WHERE id = ?",
        (now_us, now_us, series_id),
    )
    await record_series_change(db, series_id, "series_end", now_us)
    return await fetch_series(db, series_id, None, tz)
