"""Fixtures for the scheduling core: a fake clock, the real embedded calendar, a real state file.

The embedded calendar and the state store run their SQLite work in aiosqlite's
thread, so "let every task run" needs a little real time, not just a few
event-loop turns. `SettlingClock.settle` therefore waits (bounded, 20 s) until
every registered moderator is quiet, i.e. each agent's timer task is parked on
the fake clock again. The timers themselves are the production ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.calendar import CalendarUnavailable
from bot.core.clock import FakeClock
from bot.core.events import Event, SlotEnded
from bot.core.models import Slot, SlotCreate
from bot.core.moderator import Moderator
from bot.core.state import StateStore
from bot.core.waker import WakeResult

SETTLE_CEILING_S = 20.0


class SettlingClock(FakeClock):
    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.watched: list[Moderator] = []

    def watch(self, moderator: Moderator) -> None:
        self.watched.append(moderator)

    def unwatch(self, moderator: Moderator) -> None:
        if moderator in self.watched:
            self.watched.remove(moderator)

    async def settle(self, rounds: int = 20) -> None:
        deadline = time.monotonic() + SETTLE_CEILING_S
        spins = 0
        while True:
            for _ in range(rounds):
                await asyncio.sleep(0)
            if all(m.quiet for m in self.watched):
                # one more pass: a quiet moderator may have just queued a re-arm
                for _ in range(rounds):
                    await asyncio.sleep(0)
                if all(m.quiet for m in self.watched):
                    return
            spins += 1
            if time.monotonic() > deadline:
                raise AssertionError("the moderator did not settle within 20 s")
            await asyncio.sleep(0.0005 if spins < 200 else 0.005)


START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SettlingClock:
    return SettlingClock(START)


@pytest.fixture
async def calendar(clock: SettlingClock) -> AsyncIterator[EmbeddedCalendar]:
    cal = await EmbeddedCalendar.open(":memory:", timezone=ZoneInfo("UTC"), clock=clock)
    yield cal
    await cal.close()


@dataclass
class World:
    """What the wake medium remembers across moderator restarts (like Discord's channels)."""

    channels: dict[str, str] = field(default_factory=dict)
    deliveries: list[tuple[str, datetime, str]] = field(default_factory=list)
    notices: list[tuple[str, str]] = field(default_factory=list)

    def delivered(self) -> list[str]:
        return [slot_id for slot_id, _, _ in self.deliveries]

    def times(self) -> dict[str, datetime]:
        return {slot_id: at for slot_id, at, _ in self.deliveries}


class RecordingWaker:
    """An idempotent waker double: a slot's "channel" is found again, never made twice."""

    name = "recording"

    def __init__(
        self,
        clock: FakeClock,
        world: World | None = None,
        *,
        on_wake: Callable[[AgentConfig, Slot], Awaitable[None]] | None = None,
    ) -> None:
        self.clock = clock
        self.world = world or World()
        self.calls: list[str] = []
        self.on_wake = on_wake

    def can_wake(self, agent: AgentConfig) -> bool:
        return True

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        self.calls.append(slot.id)
        existing = self.world.channels.get(slot.id)
        if existing is not None:
            return WakeResult.success(self.name, reference=existing)
        reference = f"chan-{slot.id}"
        self.world.channels[slot.id] = reference
        self.world.deliveries.append((slot.id, self.clock.now(), prompt))
        if self.on_wake is not None:
            await self.on_wake(agent, slot)
        return WakeResult.success(self.name, reference=reference)

    async def notify(self, agent: AgentConfig, slot: Slot, text: str) -> bool:
        if slot.id not in self.world.channels:
            return False
        self.world.notices.append((slot.id, text))
        return True


class FailingWaker:
    """Fails `failures` times (None: always), then delivers like `RecordingWaker`."""

    name = "failing"

    def __init__(self, clock: FakeClock, failures: int | None = None) -> None:
        self.failures = failures
        self.inner = RecordingWaker(clock)
        self.attempts: list[tuple[str, datetime]] = []
        self.clock = clock

    def can_wake(self, agent: AgentConfig) -> bool:
        return True

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        self.attempts.append((slot.id, self.clock.now()))
        if self.failures is None or self.failures > 0:
            if self.failures is not None:
                self.failures -= 1
            return WakeResult.failure(self.name, "the medium is down")
        return await self.inner.wake(agent, slot, prompt)


class CalendarProxy:
    """The real calendar, except for the calls a subclass overrides."""

    def __init__(self, inner: EmbeddedCalendar) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Outage:
    """The real calendar behind a switch: `down` (or an agent in `down_for`) fails every call."""

    def __init__(self, inner: EmbeddedCalendar) -> None:
        self.inner = inner
        self.down = False
        self.down_for: set[str] = set()
        self.unchanged_days = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr) or name == "close":
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            agent = kwargs.get("agent_id") or (args[0] if args else None)
            if self.down or agent in self.down_for:
                raise CalendarUnavailable("calendar unreachable (test outage)")
            result = await attr(*args, **kwargs)
            if name == "get_day" and result.unchanged:
                self.unchanged_days += 1
            return result

        return call


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
        )
    )


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


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
