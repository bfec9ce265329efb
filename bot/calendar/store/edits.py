"""Editing a planned slot (`PATCH /calendar/slots/{id}`, DESIGN §3): what may change, and when.

Only a slot still waiting (NOT_STARTED or DEFERRED) may be edited: a running or
ended slot is what happened, and an edit of it is 409 `not_editable`. A move
(a new `scheduled_at`) makes a DEFERRED slot NOT_STARTED again, since the time
it was deferred to is replaced by the one just given. Like a transition, an edit
is a compare-and-set on the version and runs inside the caller's write
transaction, so a refused edit stores nothing.
"""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.calendar.store.dialect import Db
from bot.calendar.store.rows import (
    check_version,
    fetch_slot,
    not_found,
    readable_slot,
    record_event,
    to_us,
)
from bot.core.calendar import BadRequest, SlotNotFound, TransitionConflict
from bot.core.models import PENDING_STATUSES, Slot, SlotEdit, SlotStatus, describe_validation
from bot.core.validation import check_local_years


def checked_edit(edit: SlotEdit, tz: ZoneInfo) -> SlotEdit:
    """`edit` held to §3.2 again (a caller may have built it without validation)."""
    try:
        edit = SlotEdit.model_validate(
            edit.model_dump(include=edit.model_fields_set | {"expected_version"})
        )
    except ValidationError as exc:
        raise BadRequest(describe_validation(exc), code="validation_error") from None
    if edit.scheduled_at is not None:
        check_local_years(edit.scheduled_at, tz, "scheduled_at")
    return edit


async def apply_edit(
    db: Db,
    slot_id: str,
    edit: SlotEdit,
    *,
    agent_id: str | None,
    now_us: int,
    tz: ZoneInfo,
) -> Slot:
    """Compare-and-set `edit` on the slot; refusals carry the slot as it is."""
    row = await fetch_slot(db, slot_id)
    if row is None or (agent_id is not None and row["agent_id"] != agent_id):
        raise SlotNotFound(not_found(slot_id, agent_id))
    slot = readable_slot(row, tz)
    check_version(slot, edit.expected_version)
    if slot.status not in PENDING_STATUSES:
        raise TransitionConflict(
            f"slot {slot_id} is {slot.status.value}: only a NOT_STARTED or DEFERRED slot "
            "can be edited",
            code="not_editable",
            slot=slot,
        )
    changes = edit.changes()
    moved = "scheduled_at" in changes and changes["scheduled_at"] != slot.scheduled_at
    status = SlotStatus.NOT_STARTED if moved else slot.status
    values = {
        "scheduled_at_us": to_us(changes.pop("scheduled_at", slot.scheduled_at)),
        **{name: value for name, value in changes.items() if name != "event_data"},
        "status": status.value,
    }
    if "event_data" in changes:
        values["event_data"] = json.dumps(changes["event_data"], ensure_ascii=False)
    assignments = ", ".join(f"{name} = ?" for name in values)
    await db.execute(
        f"UPDATE slots SET {assignments}, version = version + 1, updated_at_us = ? "
        "WHERE id = ? AND version = ?",
        (*values.values(), now_us, slot_id, slot.version),
    )
    await record_event(
        db,
        slot_id,
        now_us,
        "move" if moved else "edit",
        slot.status,
        status,
        None,
        moved_from_us=to_us(slot.scheduled_at) if moved else None,
    )
    updated = await fetch_slot(db, slot_id)
    assert updated is not None
    return readable_slot(updated, tz)
