"""A slot state kept by another calendar, copied into this store as it is (DESIGN §10).

A CalDAV calendar holds the truth of a slot's state in the event itself
(`X-MODERATOR-STATUS`, `X-MODERATOR-CLAIM`, `X-MODERATOR-NOTE`): the claim was
decided there, by a conditional PUT, before anything was written here. This
store is then only the moderator's local copy, so the state is set as the
event says, not re-decided by the transition table (which would refuse, say,
NOT_STARTED -> FINISHED when this copy missed the start in between).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.calendar.store.dialect import INTEGRITY_ERRORS, Db
from bot.calendar.store.rows import PENDING_SQL, fetch_one, record_event
from bot.calendar.store.series_edits import end_series_now
from bot.calendar.store.transitions import TransitionCall, apply_transition
from bot.core.models import PENDING_STATUSES, Action, SlotStatus

#: The history line of a state copied from the event.
MIRROR_ACTION = "caldav"
#: The note of a slot cancelled because its event was deleted from the calendar (or made
#: all-day there: no longer anything the moderator plans).
DELETED_NOTE = "its event was deleted from the calendar, or is no longer at a time"


@dataclass(frozen=True, slots=True)
class MirroredState:
    """A slot's state as the event carries it; `claim_key` is the claim that holds it."""

    status: SlotStatus
    claim_key: str | None = None
    note: str | None = None


async def set_mirrored_state(
    db: Db, slot_id: str, state: MirroredState, *, now_us: int
) -> str | None:
    """Make `slot_id` read as `state`; answers why not when it cannot (None when done).

    Nothing changes when the state is already there. A second ONGOING/PAUSED slot of
    the agent is refused by the one-held-slot index, as any write would be: the
    answer names it, and the next listing tries again.
    """
    row = await fetch_one(
        db, "SELECT status, claim_key, note, started_at_us FROM slots WHERE id = ?", (slot_id,)
    )
    if row is None:
        return f"slot {slot_id} is not here"
    old = SlotStatus(row["status"])
    same_note = state.note is None or state.note == row["note"]
    if old is state.status and row["claim_key"] == state.claim_key and same_note:
        return None
    started = row["started_at_us"]
    if started is None and state.status not in PENDING_STATUSES:
        started = now_us
    ended = now_us if state.status.is_final else None
    claim = state.claim_key if state.status.is_active else None
    try:
        await db.execute(
            "UPDATE slots SET status = ?, version = version + 1, updated_at_us = ?, "
            "claim_key = ?, started_at_us = ?, ended_at_us = ?, note = COALESCE(?, note) "
            "WHERE id = ?",
            (state.status.value, now_us, claim, started, ended, state.note, slot_id),
        )
    except INTEGRITY_ERRORS:
        return f"slot {slot_id}: its agent already holds another slot here"
    await record_event(db, slot_id, now_us, MIRROR_ACTION, old, state.status, state.note)
    return None


async def retire(db: Db, agent_id: str, ids: Iterable[str], *, now_us: int, tz: ZoneInfo) -> int:
    """The events of `ids` are gone from the other calendar (deleted there): a series ends,
    a slot that has not started is CANCELLED; what started or ended stays as it is.
    Answers how many changed."""
    changed = 0
    for one in ids:
        series = await fetch_one(
            db, "SELECT ended_at_us FROM series WHERE id = ? AND agent_id = ?", (one, agent_id)
        )
        if series is not None:
            if series["ended_at_us"] is None:
                await end_series_now(db, one, agent_id=agent_id, now_us=now_us, tz=tz)
                changed += 1
            continue
        row = await fetch_one(
            db, "SELECT status FROM slots WHERE id = ? AND agent_id = ?", (one, agent_id)
        )
        if row is None or SlotStatus(row["status"]) not in PENDING_STATUSES:
            continue
        call = TransitionCall.checked(one, Action.CANCEL, agent_id=agent_id, note=DELETED_NOTE)
        await apply_transition(db, call, now_us=now_us, tz=tz)
        changed += 1
    return changed


async def listed_ids(db: Db, agent_id: str, before_us: int) -> set[str]:
    """The ids a full listing of the agent's events, begun at `before_us`, must name again:
    the series that have not ended and the single slots that have not started (an
    occurrence is its series'). What changed since the listing began (a slot the moderator,
    in this process or another on the same copy, made meanwhile) is not asked of it."""
    found: set[str] = set()
    for sql in (
        "SELECT id FROM series WHERE agent_id = ? AND ended_at_us IS NULL AND updated_at_us < ?",
        f"SELECT id FROM slots WHERE agent_id = ? AND series_id IS NULL "
        f"AND status IN ({PENDING_SQL}) AND updated_at_us < ?",
    ):
        rows = await db.execute_fetchall(sql, (agent_id, before_us))
        found.update(str(row["id"]) for row in rows)
    return found
