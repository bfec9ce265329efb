"""The scheduling rules of DESIGN §4 as pure functions: no I/O, no asyncio, no clock.

Everything here answers a question from values it is given (the cached slots,
a silence, a failure streak), so the rules can be tested on their own and the
scheduler's collaborators only decide *when* to ask and what to do with the answer.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

from bot.core.cache import local_day, selection_key
from bot.core.delays import retry_delay
from bot.core.models import Slot, SlotStatus

#: A calendar error during a check waits at least this long before the next try.
CALENDAR_RETRY_BASE_S = 5.0
#: Nudge at this many times the estimated duration of silence, abort at the second.
NUDGE_FACTOR = 2
ABORT_FACTOR = 4


def undeferred(due: Sequence[Slot], deferred: Collection[str]) -> list[Slot]:
    """The due slots a check may still act on: minus those deferred in this busy session."""
    return [s for s in due if s.id not in deferred]


def pick(slots: Sequence[Slot]) -> Slot | None:
    """The slot a check claims among `slots` (priority desc, scheduled_at asc, id asc)."""
    return min(slots, key=selection_key) if slots else None


def due_since(slot: Slot) -> datetime:
    """When the slot became due (DESIGN §4): its time, or its creation or last change if
    later, since a slot planned or moved into the past is due from then, not late from its
    time. `updated_at` stands for the last move (an edit or a release counts too: a slot
    that has not run is due again from then, and a DEFERRED one is never misfired); a v1
    calendar without `created_at` has `updated_at` all the same."""
    return max(slot.scheduled_at, slot.updated_at, slot.created_at or slot.scheduled_at)


def misfired(slot: Slot, now: datetime, grace_s: float | None) -> bool:
    """A NOT_STARTED slot first seen more than `grace_s` after it became due is not woken."""
    if grace_s is None or slot.status is not SlotStatus.NOT_STARTED:
        return False
    return (now - due_since(slot)).total_seconds() > grace_s


class StuckStep(Enum):
    """What the stuck rule asks for now about the held slot."""

    WAIT = "wait"
    NUDGE = "nudge"
    ABORT = "abort"


@dataclass(frozen=True, slots=True)
class StuckVerdict:
    step: StuckStep
    #: When the silence next calls for the rule (the nudge, or the abort once nudged).
    deadline: datetime
    silence: timedelta


def stuck_deadline(last_activity: datetime, nudged: bool, estimated_min: int) -> datetime:
    """When a held slot's silence calls for the rule next: nudge at 2x, then abort at 4x."""
    factor = ABORT_FACTOR if nudged else NUDGE_FACTOR
    return last_activity + timedelta(minutes=estimated_min) * factor


def stuck_verdict(
    last_activity: datetime, nudged: bool, estimated_min: int, now: datetime
) -> StuckVerdict:
    """Abort after 4x the estimate of silence; nudge (once) after 2x; else wait."""
    silence = now - last_activity
    unit = timedelta(minutes=estimated_min)
    if silence >= unit * ABORT_FACTOR:
        step = StuckStep.ABORT
    elif silence >= unit * NUDGE_FACTOR and not nudged:
        step = StuckStep.NUDGE
    else:
        step = StuckStep.WAIT
    return StuckVerdict(step, stuck_deadline(last_activity, nudged, estimated_min), silence)


def overdue(last_activity: datetime, estimated_min: int, now: datetime) -> bool:
    """Silent for the nudge's 2x the estimate (shown in /status)."""
    return now - last_activity >= timedelta(minutes=estimated_min) * NUDGE_FACTOR


def calendar_retry_delay(streak: int, cap_s: float) -> float:
    """Seconds before the next check after `streak` troubled ones: 5 s doubling, capped."""
    return retry_delay(streak, base_s=CALENDAR_RETRY_BASE_S, max_s=cap_s)


def wake_retry_delay(failures: int, base_s: float, max_s: float) -> float:
    """Seconds before a failed wake is retried: `base_s` doubling per failure, capped."""
    return retry_delay(failures, base_s=base_s, max_s=max_s)


def next_midnight(now: datetime, tz: ZoneInfo) -> datetime:
    """The next start of a `tz` day after `now`, in UTC (right across DST changes)."""
    tomorrow = local_day(now, tz) + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=tz).astimezone(UTC)
