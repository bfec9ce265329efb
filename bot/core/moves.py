"""A calendar transition the scheduler asks for (`Move`), and what became of it.

Every transition of an agent's slot goes through `AgentScheduler.transition`,
which catches the calendar's answer once (fold a refusal's slot, count the
check's trouble, log) and hands back one of these; callers differ only in what
they do next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.calendar import CalendarError, SlotNotFound, TransitionConflict
from bot.core.models import Action, Slot


@dataclass(frozen=True, slots=True)
class Move:
    """One transition asked of the calendar; `what` names it in logs and trouble counts.

    `version` is the compare-and-set guard (None: unguarded); `key` the idempotency
    (claim) key. `Move.of` takes both id and version from the slot as the cache has it,
    which is what nearly every caller wants.
    """

    slot_id: str
    action: Action
    note: str
    what: str
    version: int | None = None
    until: datetime | None = None
    key: str | None = None

    @classmethod
    def of(cls, slot: Slot, action: Action, note: str, what: str, key: str | None = None) -> Move:
        return cls(slot.id, action, note, what, version=slot.version, key=key)


@dataclass(frozen=True, slots=True)
class Applied:
    """The calendar moved the slot; the caller folds `slot` in with `was_active`."""

    slot: Slot
    was_active: Slot | None


@dataclass(frozen=True, slots=True)
class Refused:
    """409: the slot is not as we expected; `exc.slot` (as it is now) is already folded in."""

    exc: TransitionConflict


@dataclass(frozen=True, slots=True)
class Missing:
    """404, for a caller that expects it (otherwise a 404 is `Trouble` like any error)."""

    exc: SlotNotFound


@dataclass(frozen=True, slots=True)
class Trouble:
    """The calendar failed or was away; counted against a check when the call was one's."""

    exc: CalendarError


Outcome = Applied | Refused | Missing | Trouble
