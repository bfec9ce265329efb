"""Fixtures for the scheduling core: a fake clock, the real embedded calendar, a real state file.

The doubles (the settling fake clock, the recording waker, the faulty calendar)
are the shared ones in testkit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.events import Event, SlotEnded
from bot.core.models import Slot, SlotCreate
from bot.core.moderator import Moderator
from bot.core.state import StateStore
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SettlingClock:
    return SettlingClock(START)


@pytest.fixture
async def calendar(clock: SettlingClock) -> AsyncIterator[EmbeddedCalendar]:
    cal = await EmbeddedCalendar.open(":memory:", timezone=ZoneInfo("UTC"), clock=clock)
    yield cal
    await cal.close()


ADA = AgentConfig(id="ada", discord_user_id=1001)
BOB = AgentConfig(id="bob", discord_user_id=1002)


async def add_slot(
    calendar: EmbeddedCalendar,
    agent: str,
    at: datetime,
    *,
    priority: int = 50,
    title: str = "",
    minutes: int = 30,
) -> Slot:
    return await calendar.create_slot(
        SlotCreate(
            agent_id=agent,
            scheduled_at=at,
            priority=priority,
            title=title or f"{agent}@{at:%H:%M}/p{priority}",
            prompt="do the thing",
            estimated_duration_min=minutes,
            # Scheduler tests seed overdue slots on purpose (DESIGN §3.2 refuses them otherwise).
            allow_past=True,
        )
    )


async def actions_of(calendar: EmbeddedCalendar, slot_id: str, action: str) -> int:
    """How many times the slot's history records `action` ("start", "defer", ...)."""
    return sum(1 for e in await calendar.slot_events(slot_id) if e.action == action)


class Harness:
    """Builds moderators on the shared fake clock and tears them down."""

    def __init__(self, clock: SettlingClock, calendar: EmbeddedCalendar, tmp_path: Path) -> None:
        self.clock = clock
        self.calendar = calendar
        self.tmp_path = tmp_path
        self.state_path = tmp_path / "state.db"
        self.events: list[Event] = []
        self.ended: list[Slot] = []
        self._open: list[tuple[Moderator, StateStore]] = []

    async def moderator(
        self,
        waker: Any,
        agents: tuple[AgentConfig, ...] = (ADA,),
        *,
        start: bool = True,
        state_path: Path | str | None = None,
        calendar: Any = None,
        **options: Any,
    ) -> Moderator:
        state = await StateStore.open(state_path or self.state_path, clock=self.clock)
        options.setdefault("check_interval_s", 30.0)
        options.setdefault("timezone", self.calendar.timezone)
        options.setdefault("wake_template", "{title}: {prompt}")
        moderator = Moderator(
            list(agents), calendar or self.calendar, state, waker, self.clock, **options
        )
        moderator.events.subscribe(Event, self.events.append)

        async def ended(event: SlotEnded) -> None:
            self.ended.append(event.slot)

        moderator.events.subscribe(SlotEnded, ended)
        self.clock.watch(moderator)
        self._open.append((moderator, state))
        if start:
            await moderator.start()
            await self.clock.advance(0)
        return moderator

    async def crash(self, moderator: Moderator) -> None:
        """Drop a moderator as a killed process would: timers cancelled mid-flight, no flush."""
        for mod, state in list(self._open):
            if mod is moderator:
                await mod.stop(grace_s=0)
                self.clock.unwatch(mod)
                await state.close()
                self._open.remove((mod, state))

    async def close(self) -> None:
        for mod, state in self._open:
            await mod.stop(grace_s=5)
            self.clock.unwatch(mod)
            await state.close()
        self._open.clear()

    def kinds(self, agent_id: str | None = None) -> list[type[Event]]:
        return [type(e) for e in self.events if agent_id is None or e.agent_id == agent_id]


@pytest.fixture
async def harness(
    clock: SettlingClock, calendar: EmbeddedCalendar, tmp_path: Path
) -> AsyncIterator[Harness]:
    h = Harness(clock, calendar, tmp_path)
    yield h
    await h.close()


@pytest.fixture
def waker(clock: SettlingClock) -> RecordingWaker:
    """The waker most moderators here wake through: records every call, never fails."""
    return RecordingWaker(clock)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
