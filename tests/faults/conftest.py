"""Fault injection: real moderators, the real HTTP client, the real calendar server, faults between.

The calendar server (`make_app` + `serve_app`, on 127.0.0.1) gets one extra
middleware, outermost, that a test switches between faults at will: refuse
with a status, answer garbage, answer late, drop fields from slots, or not be
listening at all (the server stopped, later started again on the same port).

Time for the moderators and for the store behind the server is one
`SettlingClock` (testkit); HTTP, retries and client timeouts take real time.
`Rig.run` plays the glue: it advances the fake clock in steps, calls
`sync_all` / `check_all` at their intervals like the bot's loops do, lets the
agents finish what they were woken for (straight in the store, as an agent
reporting back to the calendar would), and checks after every step that no
agent holds two slots and no slot was woken twice. Nothing asserts on real time.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from bot.calendar.client import HttpCalendar
from bot.calendar.server import make_app, serve_app
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.models import Action, Slot, SlotCreate, SlotStatus
from bot.core.moderator import Moderator
from bot.core.state import StateStore
from bot.core.status import AgentSnapshot
from testkit.clock import SettlingClock
from testkit.http_faults import FaultSwitch, HttpFault
from testkit.retries import quick_retry
from testkit.wakers import RecordingWaker

#: Not UTC, so a day computed in the wrong zone would show (09:00 UTC is 10:00 here).
TZ = ZoneInfo("Europe/Berlin")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYNC_INTERVAL_S = 60.0
CHECK_INTERVAL_S = 30.0
STEP_S = 10.0
#: Real-time ceiling for a restarted server to get its port back.
RESTART_CEILING_S = 20.0


class CalendarServer:
    """The real calendar API over `store` on a fixed loopback port; can go away and come back."""

    def __init__(self, store: EmbeddedCalendar) -> None:
        self.store = store
        self.switch = FaultSwitch()
        with socket.socket() as probe:  # a free port, kept for restarts
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def up(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        assert self._runner is None
        app = make_app(self.store)
        app.middlewares.insert(0, self.switch.middleware)
        deadline = time.monotonic() + RESTART_CEILING_S
        while True:
            try:
                self._runner, port = await serve_app(app, "127.0.0.1", self.port)
                assert port == self.port
                return
            except OSError:  # the port may linger for a moment after a stop
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def fail(self, fault: HttpFault | None) -> None:
        self.switch.fault = fault


# ---- the agents' side --------------------------------------------------------


ADA = AgentConfig(id="ada")
BOB = AgentConfig(id="bob")
CY = AgentConfig(id="cy")


@dataclass
class Rig:
    clock: SettlingClock
    store: EmbeddedCalendar
    server: CalendarServer
    tmp_path: Path
    moderators: list[Moderator] = field(default_factory=list)
    wakers: list[RecordingWaker] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: per moderator: fake seconds since its last sync (its loop's phase)
    _since_sync: list[float] = field(default_factory=list)
    _since_check: float = 0.0

    async def add_slots(
        self, agent: AgentConfig, *offsets_min: float, priority: int = 50
    ) -> list[Slot]:
        made = []
        for offset in offsets_min:
            slot = await self.store.create_slot(
                SlotCreate(
                    agent_id=agent.id,
                    scheduled_at=START + timedelta(minutes=offset),
                    priority=priority,
                    title=f"{agent.id} +{offset:g} min",
                    prompt="Do the scheduled work, then report back.",
                    estimated_duration_min=20,
                )
            )
            made.append(slot)
        self.slots.extend(made)
        return made

    async def moderator(
        self,
        agents: Iterable[AgentConfig] = (ADA, BOB),
        *,
        name: str = "m1",
        client_timeout_s: float = 2.0,
        sync_phase_s: float = 0.0,
        precise_timer: bool = True,
        start: bool = True,
    ) -> Moderator:
        """A moderator with its own state file, waker and HTTP client (few, quick retries).

        `sync_phase_s` shifts its sync loop against the others' (their own
        processes would not tick together). Without the precise timer only the
        rig's check ticks run checks, and they run every moderator's at once.
        """
        client = HttpCalendar(
            self.server.url,
            timezone=TZ,
            retry=quick_retry(timeout_s=client_timeout_s, attempts=2, backoff_max_s=0.02),
        )
        state = await StateStore.open(self.tmp_path / f"state-{name}.db", clock=self.clock)
        waker = RecordingWaker(self.clock, name=name)
        moderator = Moderator(
            list(agents),
            client,
            state,
            waker,
            self.clock,
            timezone=TZ,
            check_interval_s=CHECK_INTERVAL_S,
            wake_template="{title}: {prompt}",
            precise_timer=precise_timer,
        )

        async def close() -> None:
            await moderator.stop(grace_s=5)
            await client.close()
            await state.close()

        self._closers.append(close)
        self.moderators.append(moderator)
        self._since_sync.append(sync_phase_s % SYNC_INTERVAL_S)
        self.wakers.append(waker)
        self.clock.watch(moderator)
        if start:
            await moderator.start()
            await self.clock.settle()
        return moderator

    def wakes(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for waker in self.wakers:
            total.update(waker.wakes)
        return total

    async def step(self, seconds: float = STEP_S) -> None:
        """One glue tick: time passes, the loops run when due, agents finish their work."""
        await self.clock.advance(seconds)
        self._since_check += seconds
        due = []
        for index, moderator in enumerate(self.moderators):
            self._since_sync[index] += seconds
            if self._since_sync[index] >= SYNC_INTERVAL_S:
                self._since_sync[index] = 0.0
                due.append(moderator.sync_all())
        await asyncio.gather(*due)
        if self._since_check >= CHECK_INTERVAL_S:
            self._since_check = 0.0
            await asyncio.gather(*(m.check_all() for m in self.moderators))
        await self.clock.settle()
        await self.check_invariants()
        await self.agents_finish()

    async def run(self, seconds: float) -> None:
        for _ in range(int(seconds // STEP_S)):
            await self.step()

    async def run_until_done(self, ceiling_s: float = 4 * 3600) -> None:
        """Step until every slot has ended (bounded in simulated time; the test then asserts)."""
        waited = 0.0
        while waited < ceiling_s and not await self.all_ended():
            await self.step()
            waited += STEP_S
        # a little longer, so a late double wake would still show
        await self.run(2 * SYNC_INTERVAL_S)

    async def all_ended(self) -> bool:
        current = await self.store.list_slots()
        return all(s.status.is_final for s in current)

    async def agents_finish(self) -> None:
        """Every agent completes the slot it was woken for (reporting straight to the calendar)."""
        woken = self.wakes()
        for slot in await self.store.list_slots():
            if slot.status is SlotStatus.ONGOING and woken[slot.id]:
                await self.store.transition(
                    slot.id, Action.COMPLETE, agent_id=slot.agent_id, note="DONE"
                )

    async def check_invariants(self) -> None:
        current = await self.store.list_slots()
        held = Counter(s.agent_id for s in current if s.status.is_active)
        twice = {agent: n for agent, n in held.items() if n > 1}
        assert not twice, f"agents holding more than one slot: {twice}"
        repeated = {slot_id: n for slot_id, n in self.wakes().items() if n > 1}
        assert not repeated, f"slots woken more than once: {repeated}"

    async def assert_nothing_lost(self) -> None:
        """Every slot FINISHED, woken exactly once, and claimed exactly once at the calendar."""
        current = {s.id: s for s in await self.store.list_slots()}
        assert set(current) == {s.id for s in self.slots}
        wrong = {
            i: s.status.value for i, s in current.items() if s.status is not SlotStatus.FINISHED
        }
        assert not wrong, f"slots not finished: {wrong}"
        woken = self.wakes()
        counts = {slot_id: woken[slot_id] for slot_id in current}
        assert all(n == 1 for n in counts.values()), f"wakes per slot: {counts}"
        for slot_id in current:
            starts = [e for e in await self.store.slot_events(slot_id) if e.action == "start"]
            assert len(starts) == 1, f"slot {slot_id} started {len(starts)} times: {starts}"

    def statuses(self, agent_id: str) -> list[AgentSnapshot]:
        return [m.status(agent_id) for m in self.moderators]

    async def close(self) -> None:
        for close in reversed(self._closers):
            await close()
        self._closers.clear()
        self.clock.watched.clear()


@pytest.fixture
def clock() -> SettlingClock:
    return SettlingClock(START)


@pytest.fixture
async def store(clock: SettlingClock) -> AsyncIterator[EmbeddedCalendar]:
    cal = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=clock)
    yield cal
    await cal.close()


@pytest.fixture
async def server(store: EmbeddedCalendar) -> AsyncIterator[CalendarServer]:
    """Not started: each test decides when the calendar is there."""
    srv = CalendarServer(store)
    yield srv
    srv.fail(None)
    await srv.stop()


@pytest.fixture
async def rig(
    clock: SettlingClock, store: EmbeddedCalendar, server: CalendarServer, tmp_path: Path
) -> AsyncIterator[Rig]:
    r = Rig(clock=clock, store=store, server=server, tmp_path=tmp_path)
    yield r
    await r.close()


def failing(snapshot: AgentSnapshot, *words: str) -> bool:
    """The status shows a sync failure whose text names each of `words`."""
    error = snapshot.last_sync_error or ""
    return (
        snapshot.consecutive_sync_failures >= 1
        and not snapshot.healthy
        and all(w.lower() in error.lower() for w in words)
    )


def healthy(snapshot: AgentSnapshot) -> bool:
    return snapshot.consecutive_sync_failures == 0 and snapshot.last_sync_error is None
