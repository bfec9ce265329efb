"""The calendar's data model (DESIGN §3), shared by the store, the server, the client and the core.

The transition table lives here, once: the embedded store enforces it, the client
uses it to explain a refusal, and the scheduler uses it to know what a reply may do.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)

from bot.core.limits import (
    Duration,
    EventData,
    Exdates,
    Flag,
    Instant,
    Note,
    Priority,
    Prompt,
    RuleText,
    SlotId,
    SlotType,
    Title,
    Version,
    WallTime,
    ZoneName,
)

AGENT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
_AGENT_ID_RE = re.compile(AGENT_ID_PATTERN)


def is_valid_agent_id(value: str) -> bool:
    """Agent ids become channel names, so they are held to Discord's channel-name rules."""
    # fullmatch: `$` alone would also take "a\n", a trailing newline no channel name has.
    return bool(_AGENT_ID_RE.fullmatch(value))


def _agent_id_shape(value: str) -> str:
    if not is_valid_agent_id(value):
        raise ValueError(f"agent id {value!r} must match {AGENT_ID_PATTERN}")
    return value


AgentId = Annotated[str, Strict(), AfterValidator(_agent_id_shape)]


class SlotStatus(StrEnum):
    NOT_STARTED = "NOT_STARTED"
    DEFERRED = "DEFERRED"
    ONGOING = "ONGOING"
    PAUSED = "PAUSED"
    FINISHED = "FINISHED"
    ABORTED = "ABORTED"
    #: A plan withdrawn before it ran (DESIGN v2): final, and not a failure like ABORTED.
    CANCELLED = "CANCELLED"
    #: A status this version does not know, read from a newer calendar (DESIGN §3: "not
    #: wakeable"): neither pending, nor held, nor ended. Never written by this version.
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def is_active(self) -> bool:
        """ONGOING or PAUSED: the agent holds the slot and is busy."""
        return self in ACTIVE_STATUSES

    @property
    def is_pending(self) -> bool:
        """NOT_STARTED or DEFERRED: waiting to be woken."""
        return self in PENDING_STATUSES


FINAL_STATUSES = frozenset({SlotStatus.FINISHED, SlotStatus.ABORTED, SlotStatus.CANCELLED})
ACTIVE_STATUSES = frozenset({SlotStatus.ONGOING, SlotStatus.PAUSED})
PENDING_STATUSES = frozenset({SlotStatus.NOT_STARTED, SlotStatus.DEFERRED})
#: The statuses a slot can be given: every one but `UNKNOWN`.
KNOWN_STATUSES = frozenset(SlotStatus) - {SlotStatus.UNKNOWN}


def _read_status(value: Any) -> Any:
    """A status text this version does not know is `UNKNOWN`, not a malformed slot."""
    unknown = isinstance(value, str) and value not in KNOWN_STATUSES
    return SlotStatus.UNKNOWN if unknown else value


class Action(StrEnum):
    START = "start"
    COMPLETE = "complete"
    ABORT = "abort"
    PAUSE = "pause"
    RESUME = "resume"
    DEFER = "defer"
    RELEASE = "release"
    CANCEL = "cancel"


class Transition(BaseModel):
    model_config = ConfigDict(frozen=True)

    allowed_from: frozenset[SlotStatus]
    to: SlotStatus


TRANSITIONS: dict[Action, Transition] = {
    Action.START: Transition(allowed_from=PENDING_STATUSES, to=SlotStatus.ONGOING),
    Action.COMPLETE: Transition(allowed_from=ACTIVE_STATUSES, to=SlotStatus.FINISHED),
    Action.ABORT: Transition(allowed_from=KNOWN_STATUSES - FINAL_STATUSES, to=SlotStatus.ABORTED),
    Action.PAUSE: Transition(allowed_from=frozenset({SlotStatus.ONGOING}), to=SlotStatus.PAUSED),
    Action.RESUME: Transition(allowed_from=frozenset({SlotStatus.PAUSED}), to=SlotStatus.ONGOING),
    Action.DEFER: Transition(allowed_from=PENDING_STATUSES, to=SlotStatus.DEFERRED),
    Action.RELEASE: Transition(
        allowed_from=frozenset({SlotStatus.ONGOING}), to=SlotStatus.DEFERRED
    ),
    Action.CANCEL: Transition(allowed_from=PENDING_STATUSES, to=SlotStatus.CANCELLED),
}


def next_status(action: Action, current: SlotStatus) -> SlotStatus | None:
    """The status `action` leads to from `current`, or None when the table refuses it."""
    rule = TRANSITIONS[action]
    return rule.to if current in rule.allowed_from else None


class SlotContent(BaseModel):
    """What a slot asks of its agent, as read back: shared by a slot and a series (§3.1 copies
    these to every occurrence), so the two can never drift apart."""

    estimated_duration_min: int = Field(default=30, ge=1)
    priority: int = Field(default=50, ge=0, le=100)
    slot_type: str = "work"
    title: str = ""
    prompt: str = ""
    event_data: dict[str, Any] = Field(default_factory=dict)


class NewSlotContent(BaseModel):
    """The same fields as written by a caller: held to DESIGN §3.2, unknown fields refused."""

    model_config = ConfigDict(extra="forbid")

    estimated_duration_min: Duration = 30
    priority: Priority = 50
    slot_type: SlotType = "work"
    title: Title = ""
    prompt: Prompt = ""
    event_data: EventData = Field(default_factory=dict)


class Slot(SlotContent):
    """A slot exactly as DESIGN §3 puts it on the wire."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    agent_id: str = Field(min_length=1)
    scheduled_at: AwareDatetime
    status: Annotated[SlotStatus, BeforeValidator(_read_status)] = SlotStatus.NOT_STARTED
    version: int = Field(default=1, ge=0)
    updated_at: AwareDatetime
    # Read-only, and new in API 2: a v1 server leaves them out, so each has a default.
    #: Set on an occurrence of a series (DESIGN §3.1), None on a single slot.
    series_id: str | None = None
    created_at: AwareDatetime | None = None
    #: When the slot first became ONGOING.
    started_at: AwareDatetime | None = None
    #: When the slot became FINISHED, ABORTED or CANCELLED.
    ended_at: AwareDatetime | None = None
    #: The note of the last transition that had one.
    note: str | None = None


class SlotCreate(NewSlotContent):
    """The body of `POST /calendar/slots`: a slot without its server-made fields (DESIGN §3.2)."""

    agent_id: AgentId | None = None
    scheduled_at: Instant
    #: A create more than an hour in the past is refused unless this says so.
    allow_past: Flag = False


class PartialEdit(BaseModel):
    """A PATCH body: the fields to change and, optionally, the version read.

    A field left out is kept; a field sent as null is refused (nothing here can be unset),
    and so is an edit that changes nothing.
    """

    model_config = ConfigDict(extra="forbid")

    expected_version: Version | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        nulls = sorted(n for n in self.model_fields_set if getattr(self, n) is None)
        if nulls and nulls != ["expected_version"]:
            raise ValueError(f"{', '.join(nulls)} cannot be null: leave a field out to keep it")
        if not self.changes():
            raise ValueError("an edit needs at least one field to change")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields this edit sets, by name."""
        return {
            name: getattr(self, name)
            for name in sorted(self.model_fields_set - {"expected_version"})
            if getattr(self, name) is not None
        }


class ContentEdit(PartialEdit):
    """The slot content a PATCH may change, for a slot and for a series alike."""

    estimated_duration_min: Duration | None = None
    priority: Priority | None = None
    slot_type: SlotType | None = None
    title: Title | None = None
    prompt: Prompt | None = None
    event_data: EventData | None = None


class SlotEdit(ContentEdit):
    """The body of `PATCH /calendar/slots/{id}`: the content, or the time (a move)."""

    scheduled_at: Instant | None = None


class TransitionRequest(BaseModel):
    """The optional body of `POST /calendar/slots/{id}/{action}`."""

    model_config = ConfigDict(extra="forbid")

    expected_version: Version | None = None
    note: Note | None = None
    until: Instant | None = None


class Series(SlotContent):
    """A recurring slot exactly as DESIGN §3.1 puts it on the wire."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    agent_id: str = Field(min_length=1)
    rrule: str
    start: str
    timezone: str
    exdates: list[str] = Field(default_factory=list)
    version: int = Field(default=1, ge=0)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    #: When the series was ended (DELETE); None while it runs.
    ended_at: AwareDatetime | None = None


class SeriesCreate(NewSlotContent):
    """The body of `POST /calendar/series` (DESIGN §3.1, held to §3.2 like a slot's).

    `rrule`, `start` and `exdates` are checked against the recurrence rules by
    `bot.core.series.Recurrence.checked`, which needs the zone.
    """

    agent_id: AgentId | None = None
    rrule: RuleText
    start: WallTime
    #: The IANA zone of `start`; None is the calendar's own.
    timezone: ZoneName | None = None
    exdates: Exdates = Field(default_factory=list)


#: What a series keeps for good: change one of them by ending the series and making another.
SERIES_IMMUTABLE = ("agent_id", "rrule", "start", "timezone")


class SeriesEdit(ContentEdit):
    """The body of `PATCH /calendar/series/{id}`: exdates and the slot content, never the rule."""

    exdates: Exdates | None = None

    @model_validator(mode="before")
    @classmethod
    def _immutable(cls, data: Any) -> Any:
        if isinstance(data, dict):
            named = [name for name in SERIES_IMMUTABLE if name in data]
            if named:
                raise ValueError(
                    f"{', '.join(named)} cannot change: end the series and make another"
                )
        return data


class AgentState(StrEnum):
    IDLE = "idle"
    BUSY = "busy"
    OFFLINE = "offline"


class HeartbeatStatus(StrEnum):
    IDLE = "idle"
    BUSY = "busy"


class HeartbeatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: HeartbeatStatus
    current_slot_id: SlotId | None = None


#: The most agents one batched heartbeat may carry (DESIGN §3.2: every list is bounded).
HEARTBEAT_BATCH_MAX = 1000


class AgentHeartbeat(BaseModel):
    """One agent's entry in a batched heartbeat: the single heartbeat's body plus whose it is."""

    model_config = ConfigDict(extra="forbid")

    agent_id: AgentId
    status: HeartbeatStatus
    current_slot_id: SlotId | None = None


class HeartbeatBatch(BaseModel):
    """`POST /calendar/agents/heartbeat`'s body: many heartbeats kept in one transaction, so a
    moderator of many agents beats once per tick instead of once per agent."""

    model_config = ConfigDict(extra="forbid")

    agents: Annotated[list[AgentHeartbeat], Strict(), Field(max_length=HEARTBEAT_BATCH_MAX)]

    @model_validator(mode="after")
    def _one_entry_per_agent(self) -> Self:
        # Two entries for one agent would leave which status it has to their order: refused.
        first: dict[str, int] = {}
        for index, beat in enumerate(self.agents):
            if beat.agent_id in first:
                raise ValueError(
                    f"agents.{index}: agent {beat.agent_id!r} already has entry "
                    f"{first[beat.agent_id]} (one entry per agent)"
                )
            first[beat.agent_id] = index
        return self


class AgentStatus(BaseModel):
    agent_id: str
    status: AgentState
    current_slot_id: str | None = None
    last_heartbeat_at: AwareDatetime | None = None


class DaySchedule(BaseModel):
    date: date
    agent_id: str
    timezone: str
    slots: list[Slot]


class ErrorBody(BaseModel):
    error: str
    detail: str


def describe_validation(
    exc: ValidationError, *, whole: str = "body", limit: int | None = None
) -> str:
    """Field and reason for each problem, without echoing the (possibly large) input.

    `whole` names the value itself when the problem is not in one field; past
    `limit` problems only their count is given.
    """
    errors = exc.errors()
    shown = errors if limit is None else errors[:limit]
    parts = []
    for err in shown:
        where = ".".join(str(part) for part in err.get("loc", ())) or whole
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    more = len(errors) - len(shown)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
