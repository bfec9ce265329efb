"""The demo's story: the core's events as it tells them, and what it keeps for the summary.

The narrator listens to the moderator's events (`moderator.events.subscribe`)
like any other listener; trouble is worded by the log surface
(`bot.presenters.events`), so the demo and the log say it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from bot.app.demo.plan import DemoSlot
from bot.core.clock import Clock
from bot.core.events import AgentWoken, Event, SlotClaimed, SlotDeferred, SlotEnded, SlotEvent
from bot.core.models import SlotStatus
from bot.presenters.console import format_lateness
from bot.presenters.events import TROUBLE, event_line


@dataclass(slots=True)
class SlotRecord:
    """The demo's own view of one slot, for the story and the summary."""

    plan: DemoSlot
    slot_id: str
    scheduled_at: datetime
    woken_at: datetime | None = None
    wake_order: int | None = None
    ended_at: datetime | None = None
    deferred: bool = False
    pauses: int = 0
    note: str | None = None
    status: SlotStatus = SlotStatus.NOT_STARTED


@dataclass(slots=True)
class Story:
    """Prints the run as it happens, each line stamped with seconds since the start."""

    out: TextIO
    origin: datetime
    clock: Clock

    def at(self, moment: datetime) -> float:
        return (moment - self.origin).total_seconds()

    def say(self, text: str, moment: datetime | None = None) -> None:
        """One stamped entry; the lines of a longer message are indented under it."""
        stamp = f"{self.at(moment or self.clock.now()):+8.3f}s  "
        indent = "\n" + " " * len(stamp)
        self.out.write(stamp + indent.join(text.split("\n")) + "\n")
        self.out.flush()

    def plain(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()


class Narrator:
    """Turns the core's events into the story and keeps what the summary needs."""

    def __init__(self, story: Story, records: dict[str, SlotRecord]) -> None:
        self._story = story
        self._records = records
        self._woken = 0
        self.problems: list[str] = []

    def _title(self, slot_id: str | None) -> str:
        record = self._records.get(slot_id or "")
        return f"“{record.plan.title}”" if record is not None else f"slot {slot_id}"

    def on_event(self, event: Event) -> None:
        slot_id = event.slot_id if isinstance(event, SlotEvent) else None
        record = self._records.get(slot_id or "")
        who = event.agent_id
        if record is None:
            if isinstance(event, TROUBLE):
                self._trouble(event, slot_id)
            return
        if isinstance(event, SlotClaimed):
            self._story.say(
                f"{who}: {self._title(slot_id)} is due (priority {record.plan.priority}) "
                f"and {who} is idle: claimed, waking {who} in a private channel",
                event.at,
            )
        elif isinstance(event, AgentWoken):
            self._woken += 1
            record.woken_at = event.at
            record.wake_order = self._woken
            late = format_lateness(event.at - record.scheduled_at)
            self._story.say(
                f"{who}: woken for {self._title(slot_id)} {late} after its scheduled time",
                event.at,
            )
        elif isinstance(event, SlotDeferred):
            record.deferred = True
            self._story.say(
                f"{who}: {self._title(slot_id)} is due (priority {record.plan.priority}) "
                f"but {who} is busy: deferred, to be woken once {who} is idle",
                event.at,
            )
        elif isinstance(event, SlotEnded):
            record.ended_at = event.at
            self._story.say(
                f"{who}: {self._title(slot_id)} ended {event.slot.status.value}; {who} is idle",
                event.at,
            )
        elif isinstance(event, TROUBLE):
            self._trouble(event, slot_id)

    def _trouble(self, event: Event, slot_id: str | None) -> None:
        text = event_line(event, self._title(slot_id))
        self.problems.append(text)
        self._story.say(text, event.at)
