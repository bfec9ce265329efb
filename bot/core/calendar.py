"""The one calendar interface the scheduler talks to, and the errors it may raise.

Both the embedded SQLite store (in-process) and the HTTP client implement
`Calendar`, so the core never knows which backend it has.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, TypedDict, Unpack, runtime_checkable
from zoneinfo import ZoneInfo

from bot.core import models

log = logging.getLogger(__name__)


#: The feature (`GET /calendar`, `Calendar.features`) of a calendar that takes every agent's
#: heartbeat in one call (`heartbeat_many`); without it the moderator beats per agent.
BATCH_HEARTBEAT_FEATURE = "agents_heartbeat"


class CalendarError(Exception):
    """Base of every calendar failure; `code` is the wire error code where there is one."""

    code: str = "calendar_error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class CalendarUnavailable(CalendarError):
    """The backend could not be reached or kept failing (after the client's retries)."""

    code = "unavailable"


class CalendarAuthError(CalendarError):
    """401: the token is missing or wrong. Never retried."""

    code = "unauthorized"


class SlotNotFound(CalendarError):
    code = "not_found"


class FeatureMissing(CalendarError):
    """The calendar lacks an API 2 feature: a v1 server (`GET /calendar` is 404, DESIGN §3)."""

    code = "not_supported"

    def __init__(self, feature: str) -> None:
        super().__init__(
            f"the calendar does not support {feature} (an API 1 server: GET /calendar "
            "answers 404); upgrade the calendar server to use it"
        )


class BadRequest(CalendarError):
    """400/422: the request itself was wrong (bad date, bad body, unknown action)."""

    code = "bad_request"


class TransitionConflict(CalendarError):
    """409: the transition is not allowed now.

    `code` is `invalid_transition` (the table refuses it from the current status),
    `version_mismatch` (expected_version is stale) or `agent_busy` (the agent holds
    another ONGOING/PAUSED slot). `slot` is the slot as the calendar has it, when known.
    """

    code = "invalid_transition"

    def __init__(
        self, detail: str, *, code: str | None = None, slot: models.Slot | None = None
    ) -> None:
        super().__init__(detail, code=code)
        self.slot = slot


@dataclass(frozen=True, slots=True)
class DayResult:
    """A day call's answer: `schedule` is None when the calendar said 304 (unchanged)."""

    schedule: models.DaySchedule | None
    etag: str | None

    @property
    def unchanged(self) -> bool:
        return self.schedule is None


@dataclass(frozen=True, slots=True)
class SlotChanged:
    """A committed write touched `slot_id` of `agent_id` (DESIGN §4.1: changes travel at once,
    the periodic sync is only the safety net); a write to a series itself has `slot_id` None
    and names the series in `series_id`, as a change-feed entry does."""

    agent_id: str
    slot_id: str | None
    series_id: str | None = None


#: Told of a batch of changes; called in the event loop, it may only schedule work.
ChangeListener = Callable[[Sequence[SlotChanged]], None]


def tell_listeners(listeners: Iterable[ChangeListener], changes: Sequence[SlotChanged]) -> None:
    """Every listener hears the batch; one that raises is logged and stops no other.

    Shared by every change source (the embedded store's watch, the HTTP feed), so a
    listener's failure is handled the same whichever calendar is behind it.
    """
    if not changes:
        return
    for listener in list(listeners):
        try:
            listener(changes)
        except Exception:  # a listener boundary: one failing listener stops no other
            log.exception("calendar change listener %r failed", listener)


@runtime_checkable
class ChangeSource(Protocol):
    """A calendar that can say, right after a write commits, which agents' slots changed."""

    async def follow(self, listener: ChangeListener) -> Callable[[], None]:
        """Tell `listener` of every change committed from now on; answers the unfollow."""
        ...

    @property
    def change_feed_up(self) -> bool:
        """Whether changes reach followers now; while they do, the periodic sync may be rare
        (DESIGN §4.1: it is the safety net), and the moment they stop it is full again."""
        ...


class TransitionOptions(TypedDict, total=False):
    """The optional arguments of `Calendar.transition`, written once for every calendar.

    `agent_id` scopes the call to that agent's slot; `expected_version` is the
    compare-and-set guard; `note` is kept with the change; `until` reschedules
    (defer only); `idempotency_key` names the call so a repeat is recognised.
    """

    agent_id: str | None
    expected_version: int | None
    note: str | None
    until: datetime | None
    idempotency_key: str | None


@runtime_checkable
class Calendar(Protocol):
    """DESIGN §3 as Python calls. Every method may raise a `CalendarError`."""

    @property
    def timezone(self) -> ZoneInfo:
        """The calendar's time zone: the one whose midnight ends a day."""
        ...

    async def get_day(self, agent_id: str, day: date, etag: str | None = None) -> DayResult:
        """All of the agent's slots on `day`; `schedule` is None when `etag` still matches."""
        ...

    async def heartbeat(
        self, agent_id: str, status: models.HeartbeatStatus, current_slot_id: str | None = None
    ) -> list[models.Slot]:
        """Record liveness; answers the agent's NOT_STARTED/DEFERRED slots due now."""
        ...

    async def heartbeat_many(
        self, beats: Sequence[models.AgentHeartbeat]
    ) -> dict[str, list[models.Slot]]:
        """`heartbeat` for many agents in one call and one transaction (full token only):
        each agent id to its due slots, exactly as its own heartbeat would answer. At most
        `HEARTBEAT_BATCH_MAX` entries, one per agent; a bad entry refuses the whole batch
        (`BadRequest` naming it) and nothing is kept."""
        ...

    async def agent_status(self, agent_id: str) -> models.AgentStatus: ...

    async def create_slot(self, new: models.SlotCreate, agent_id: str | None = None) -> models.Slot:
        """`agent_id` stands in for `new.agent_id` when that is unset (the X-Agent-Id header)."""
        ...

    async def get_slot(self, slot_id: str, agent_id: str | None = None) -> models.Slot: ...

    async def transition(
        self,
        slot_id: str,
        action: models.Action,
        **options: Unpack[TransitionOptions],
    ) -> models.Slot:
        """Compare-and-set one transition.

        `idempotency_key` names this call so a repeat of it is recognised. For
        `start` it is the claim key: the calendar keeps it with the slot while
        the slot stays ONGOING/PAUSED, and a `start` with the same key is then
        answered 200 with the slot as it is (a replay) instead of 409. That is
        how a moderator that lost the answer to its claim (timeout, crash) finds
        out, by asking again, whether the slot is its own, durably and without
        guessing from versions.
        """
        ...

    async def edit_slot(
        self, slot_id: str, edit: models.SlotEdit, agent_id: str | None = None
    ) -> models.Slot:
        """Change a NOT_STARTED/DEFERRED slot (409 `not_editable` otherwise); a move makes a
        DEFERRED slot NOT_STARTED. `edit.expected_version` is the compare-and-set guard."""
        ...

    async def list_range(
        self, agent_id: str, start: datetime, end: datetime, status: models.SlotStatus | None = None
    ) -> list[models.Slot]:
        """The agent's slots and occurrences with `start <= scheduled_at < end` (at most
        92 days apart), by time then id; only those with `status` when given."""
        ...

    async def features(self) -> frozenset[str]:
        """What the calendar offers beyond API 1 (`series`, `changes`, ...); empty for v1."""
        ...

    async def create_series(
        self, new: models.SeriesCreate, agent_id: str | None = None
    ) -> models.Series:
        """A recurring slot (DESIGN §3.1); `agent_id` stands in for `new.agent_id` when unset."""
        ...

    async def get_series(self, series_id: str, agent_id: str | None = None) -> models.Series: ...

    async def list_series(self, agent_id: str | None = None) -> list[models.Series]:
        """The series of one agent (or of all), oldest first, ended ones included."""
        ...

    async def edit_series(
        self, series_id: str, edit: models.SeriesEdit, agent_id: str | None = None
    ) -> models.Series:
        """Change exdates and slot fields for the instances after now that were not changed on
        their own; `edit.expected_version` is the compare-and-set guard."""
        ...

    async def end_series(self, series_id: str, agent_id: str | None = None) -> models.Series:
        """End the series: no instance after now; what has not started is CANCELLED."""
        ...

    async def close(self) -> None: ...
