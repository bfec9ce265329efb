"""The core's typed events and the bus that carries them to any number of listeners.

The core says what happened (a slot was claimed, an agent woken, a slot ended)
and does not know who listens: the Discord cogs put buttons on a wake message
and take them off, the demo tells its story, the log presenter writes a line.
Adding a listener never means touching the core, and nothing is chained by hand.

Delivery rules, chosen so a listener can never hurt the scheduling:

* an agent's events are delivered after the operation that caused them, outside
  its lock, in the order they happened (a listener may call back into the
  moderator without deadlocking, and sees the state the event describes);
* a listener may be a plain function or a coroutine function; a coroutine is
  awaited before the next listener runs, so "the channel is marked ended before
  `apply_action` returns" holds for the caller;
* a listener that raises is logged with its name and the event, and the other
  listeners and the core go on.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from bot.core.models import Action, HeartbeatStatus, Slot, SlotStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something the core did for one agent, at a moment of the core's clock."""

    at: datetime
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotEvent(Event):
    """An event about one slot."""

    slot_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Synced(Event):
    """The agent's day was read from the calendar; health checks count from here."""

    slot_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncFailed(Event):
    """A sync did not reach the calendar; the cache keeps the last good day meanwhile."""

    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatSent(Event):
    """The calendar was told the agent's state, so its own status view stays current."""

    status: HeartbeatStatus
    slot_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DayRolledOver(Event):
    """Midnight in the calendar's zone: `carried` unfinished slots came along."""

    previous: date
    today: date
    carried: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotDeferred(SlotEvent):
    """A due slot waits because the agent is busy; woken once it is idle."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotClaimed(SlotEvent):
    """The calendar granted our claim (`start`); the wake comes next."""

    slot: Slot


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimConflict(SlotEvent):
    """The calendar refused the claim: another moderator won, or the slot moved on."""

    code: str | None
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentWoken(SlotEvent):
    """The agent was woken; `channel_id` is set when the wake went to a Discord channel."""

    via: str
    reference: str | None
    channel_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WakeFailed(SlotEvent):
    """Every waker failed; the slot is released and retried later."""

    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotReleased(SlotEvent):
    """A claimed slot whose wake failed was given back (DEFERRED, to be retried)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotTransitioned(SlotEvent):
    """A reply or a command moved the slot."""

    action: Action
    source: str
    status: SlotStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotEnded(SlotEvent):
    """The slot reached a final status; the state store already marks its channel ended."""

    slot: Slot


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotAbortedByRule(SlotEvent):
    """The moderator aborted the slot itself; `note` is the reason it wrote on the calendar."""

    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotMisfired(SlotAbortedByRule):
    """A slot first seen past `MISFIRE_GRACE_S` was aborted instead of woken late."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotNudged(SlotEvent):
    """A silent running slot got a reminder; `posted` is False when nobody could be told."""

    posted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StuckSlotAborted(SlotAbortedByRule):
    """A slot silent far past its estimate was aborted, freeing the agent."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WakeRecovered(SlotEvent):
    """A wake left half-done by a crash is resumed; `claimed_before` tells which half."""

    claimed_before: bool


E = TypeVar("E", bound=Event)
Listener = Callable[[E], Awaitable[None] | None]


class EventBus:
    """Listeners by event class; a listener of a base class hears its subclasses too."""

    def __init__(self) -> None:
        self._listeners: list[tuple[type[Event], Callable[[Any], Awaitable[None] | None]]] = []

    def subscribe(self, kind: type[E], listener: Listener[E]) -> Callable[[], None]:
        """Add a listener; the answer removes it again (for a cog that unloads)."""
        entry: tuple[type[Event], Callable[[Any], Awaitable[None] | None]] = (kind, listener)
        self._listeners.append(entry)

        def unsubscribe() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)

        return unsubscribe

    async def publish(self, event: Event) -> None:
        """Deliver to every listener of the event's class (or a base); never raises."""
        for kind, listener in list(self._listeners):
            if not isinstance(event, kind):
                continue
            try:
                outcome = listener(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception(
                    "event listener %s failed on %s",
                    getattr(listener, "__qualname__", repr(listener)),
                    type(event).__name__,
                )
