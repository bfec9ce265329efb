"""A slot's transitions in the store: the compare-and-set, the one-slot rule, the claim key.

A `start` may carry a claim key (the moderator's name for that one claim
attempt). It is stored with the slot while the slot is ONGOING/PAUSED, and a
`start` repeating that key is answered with the slot as it is instead of a 409:
the moderator that lost the answer to its claim asks again and learns, from the
file and so across restarts of anything, whether the slot is its own.

`apply_transition` runs inside the caller's write transaction (the store's
lock and `BEGIN IMMEDIATE`), which is what makes the read-check-write atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Unpack
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.calendar.store.dialect import INTEGRITY_ERRORS, Db
from bot.calendar.store.rows import (
    ACTIVE_SQL,
    SLOT_COLUMNS,
    check_version,
    fetch_one,
    fetch_slot,
    not_found,
    readable_slot,
    record_event,
    to_us,
)
from bot.core.calendar import BadRequest, SlotNotFound, TransitionConflict, TransitionOptions
from bot.core.models import (
    TRANSITIONS,
    Action,
    Slot,
    SlotStatus,
    TransitionRequest,
    describe_validation,
    next_status,
)
from bot.core.validation import parse_action

#: The longest claim key the calendar keeps (the server refuses longer Idempotency-Keys).
MAX_CLAIM_KEY = 200


@dataclass(frozen=True, slots=True)
class TransitionOutcome:
    """A transition's answer; `replayed` when a `start` repeated the claim key the slot holds."""

    slot: Slot
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class TransitionCall:
    """One transition's arguments, checked before any lock is taken."""

    slot_id: str
    action: Action
    agent_id: str | None
    expected_version: int | None
    note: str | None
    #: `until` in epoch microseconds (defer only).
    new_time: int | None
    #: The claim key (start only).
    claim_key: str | None
    #: `until` as given (defer only), for the checks that need the calendar's zone.
    until: datetime | None = None

    @classmethod
    def checked(
        cls,
        slot_id: str,
        action: Action | str,
        **options: Unpack[TransitionOptions],
    ) -> TransitionCall:
        """The call, or the `BadRequest` that says which argument is wrong."""
        action = parse_action(action)
        agent_id, expected_version = options.get("agent_id"), options.get("expected_version")
        note, until = options.get("note"), options.get("until")
        idempotency_key = options.get("idempotency_key")
        try:  # the body's rules (DESIGN §3.2), whoever calls: the wire, the CLI, Discord
            TransitionRequest.model_validate(
                {"expected_version": expected_version, "note": note, "until": until}
            )
        except ValidationError as exc:
            raise BadRequest(describe_validation(exc), code="validation_error") from None
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
        return cls(slot_id, action, agent_id, expected_version, note, new_time, claim_key, until)


def _allowed_from(action: Action) -> str:
    return " or ".join(sorted(s.value for s in TRANSITIONS[action].allowed_from))


async def apply_transition(
    db: Db, call: TransitionCall, *, now_us: int, tz: ZoneInfo
) -> TransitionOutcome:
    """Compare-and-set `call` on its slot; refusals are `TransitionConflict` carrying the slot."""
    slot_id, action = call.slot_id, call.action
    row = await fetch_one(
        db, f"SELECT {SLOT_COLUMNS}, claim_key FROM slots WHERE id = ?", (slot_id,)
    )
    if row is None or (call.agent_id is not None and row["agent_id"] != call.agent_id):
        raise SlotNotFound(not_found(slot_id, call.agent_id))
    slot = readable_slot(row, tz)
    if call.claim_key is not None and slot.status.is_active and row["claim_key"] == call.claim_key:
        # The same claim again (its first answer was lost): it is the caller's.
        # Answered before the version check, since the claim itself moved the version.
        return TransitionOutcome(slot, replayed=True)
    check_version(slot, call.expected_version)
    target = next_status(action, slot.status)
    if target is None:
        raise TransitionConflict(
            f"cannot {action.value} slot {slot_id}: it is {slot.status.value}, and "
            f"{action.value} needs {_allowed_from(action)}",
            code="invalid_transition",
            slot=slot,
        )
    if action is Action.START:
        other = await fetch_one(
            db,
            f"SELECT id, status FROM slots WHERE agent_id = ? AND id != ? "
            f"AND status IN ({ACTIVE_SQL}) LIMIT 1",
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
        kept_key = call.claim_key
    else:
        kept_key = row["claim_key"] if target.is_active else None
    started = now_us if target is SlotStatus.ONGOING else None
    ended = now_us if target.is_final else None
    try:
        cursor = await db.execute(
            "UPDATE slots SET status = ?, version = version + 1, updated_at_us = ?, "
            "scheduled_at_us = COALESCE(?, scheduled_at_us), claim_key = ?, "
            "started_at_us = COALESCE(started_at_us, ?), ended_at_us = ?, "
            "note = COALESCE(?, note) WHERE id = ? AND version = ?",
            (
                target.value,
                now_us,
                call.new_time,
                kept_key,
                started,
                ended,
                call.note,
                slot_id,
                slot.version,
            ),
        )
    except INTEGRITY_ERRORS:  # the one-held-slot index: another process won the race
        raise TransitionConflict(
            f"agent {slot.agent_id} already holds another slot; one slot at a time",
            code="agent_busy",
            slot=slot,
        ) from None
    changed = cursor.rowcount
    await cursor.close()
    if changed != 1:  # pragma: no cover - only another process without our lock
        raise TransitionConflict(
            f"slot {slot_id} changed under the transition", code="version_mismatch"
        )
    old_us = int(row["scheduled_at_us"])
    moved = call.new_time is not None and call.new_time != old_us
    await record_event(
        db,
        slot_id,
        now_us,
        action.value,
        slot.status,
        target,
        call.note,
        moved_from_us=old_us if moved else None,
    )
    updated = await fetch_slot(db, slot_id)
    assert updated is not None
    return TransitionOutcome(readable_slot(updated, tz))
