"""The real `ModeratorBot` against the fake Discord: fixtures and helpers for end-to-end tests.

In-process (most tests)::

    # tests/<area>/conftest.py
    from tests.e2e.harness import make_moderator_bot, moderator_bot  # noqa: F401
    from testkit.fakediscord.fixtures import fake_discord, make_fake_discord  # noqa: F401

    async def test_something(moderator_bot: BotHarness) -> None:
        h = moderator_bot                          # started, READY, moderator started
        slot = await h.add_slot("alice", in_s=2, title="Review", prompt="Do it")
        channel_id = await h.wait_wake_channel(slot.id)     # waits for the wake message too
        await h.agent_says("alice", channel_id, "DONE: shipped")
        await h.wait_status(slot.id, SlotStatus.FINISHED)
        assert h.bot_messages(channel_id)[-1]["content"].startswith("✅")

`moderator_bot` runs `ModeratorBot` exactly as `python -m bot` does (same
class, same cogs incl. the slash commands, `bot.start(token)` over the fake's
REST and gateway) with a fresh embedded calendar (`tmp_path/calendar.db`) and
state (`tmp_path/state.db`), agents `alice` and `bob` (their `discord_user_id`
are the fake's agent accounts; `carol` exists in the guild but is not
configured), `ADMIN_ROLE_ID` = the fake's `admins` role, and
`CHECK_INTERVAL_S` = `SYNC_INTERVAL_S` = 3600, so a slot can only have been
woken by the core's precise timer (or an explicit check). Other settings:
`await make_moderator_bot(channel_retention_s=5, agents=("alice",))`.

`BotHarness` gives: `bot` (the ModeratorBot: `.moderator`, `.state`, ...),
`fake`, `calendar` (the bot's own EmbeddedCalendar, on the same clock),
`settings`, `agents`, and the helpers below. Slash commands:
`await h.fake.inject_command(h.fake.admin, channel_id, "status", {...})`.

As a subprocess (`python -m bot`, for restarts, signals and exit codes)::

    env = bot_env(fake, tmp_path, CHECK_INTERVAL_S="3600")
    proc = await BotProcess.start(env, tmp_path)
    await proc.wait_log("moderator started")
    ...
    proc.terminate(); assert await proc.wait(20) == 0

The subprocess reaches the fake on 127.0.0.1 through `fake.env()`; its
calendar and state are files in `tmp_path`, which the test may open too
(`open_calendar_file`). Its stderr (the log) goes to a file that `wait_log` polls
and `log_text()` returns, for a failure message worth reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.app.discord_bot import open_bot
from bot.app.settings import Settings
from bot.calendar.server import make_app, serve_app
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.clock import SystemClock
from bot.core.models import Slot, SlotCreate, SlotStatus
from bot.discord_io.channel_rules import topic_slot_id
from bot.discord_io.client import ModeratorBot
from testkit.bots import DEFAULT_AGENTS as DEFAULT_AGENTS
from testkit.bots import WAIT_S as WAIT_S
from testkit.bots import agents_toml as agents_toml
from testkit.bots import harness_settings as harness_settings
from testkit.bots import started as started
from testkit.fakediscord import FakeDiscord
from testkit.http_faults import FaultSwitch, refusing_actions
from testkit.processes import REPO_ROOT as REPO_ROOT
from testkit.processes import UTC_ZONE as UTC_ZONE
from testkit.processes import BotProcess as BotProcess
from testkit.processes import bot_env as bot_env
from testkit.processes import due_slot as due_slot
from testkit.processes import free_port as free_port
from testkit.processes import open_calendar_file as open_calendar_file
from testkit.processes import slot_in_file as slot_in_file
from testkit.processes import status_in_file as status_in_file
from testkit.spawn import SPAWN_SECRET as SPAWN_SECRET
from testkit.spawn import SpawnReceiver as SpawnReceiver
from testkit.spawn import serving_spawn_receiver as serving_spawn_receiver

T = TypeVar("T")


async def wait_until(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = WAIT_S,  # noqa: ASYNC109
    *,
    what: str = "condition",
) -> T:
    """Poll an async predicate every 50 ms until it is truthy (then return its value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(0.05)


def slot_channels(fake: FakeDiscord, slot_id: str) -> list[int]:
    """Text channels whose topic names `slot_id` (the channel's identity), oldest first."""
    return sorted(
        int(ch["id"])
        for ch in fake.channels.values()
        if ch["type"] == 0 and topic_slot_id(ch.get("topic")) == slot_id
    )


@dataclass
class BotHarness:
    bot: ModeratorBot
    fake: FakeDiscord
    calendar: EmbeddedCalendar
    settings: Settings
    agents: list[AgentConfig]
    tmp_path: Path
    #: Only with `remote_calendar=True`: switches for the served calendar's answers.
    calendar_faults: CalendarFaults | None = None

    async def add_slot(
        self,
        agent: str,
        in_s: float = 2.0,
        title: str = "Review the open pull requests",
        prompt: str = "Look at every open PR and leave a review.",
        priority: int = 50,
        *,
        duration_min: int = 30,
    ) -> Slot:
        """Create a slot due `in_s` seconds from now (negative: already due) and make the
        bot's cache know it at once (a sync of that agent, as the sync loop would do)."""
        at = self.bot.clock.now() + timedelta(seconds=in_s)
        slot = await self.calendar.create_slot(
            SlotCreate(
                agent_id=agent,
                scheduled_at=at,
                title=title,
                prompt=prompt,
                priority=priority,
                estimated_duration_min=duration_min,
            )
        )
        await self.bot.moderator.sync(agent)
        return slot

    def wake_channel(self, slot_id: str) -> int | None:
        """The text channel whose topic names `slot_id`, if the fake has one."""
        found = self.wake_channels(slot_id)
        return found[0] if found else None

    def wake_channels(self, slot_id: str) -> list[int]:
        return slot_channels(self.fake, slot_id)

    async def woken_slot(self, agent: str, **fields: Any) -> tuple[Slot, int]:
        """A slot already due (`add_slot(in_s=-1, ...)`), once woken: it and its channel id."""
        slot = await self.add_slot(agent, **{"in_s": -1, **fields})
        return slot, await self.wait_wake_channel(slot.id)

    async def wait_wake_channel(
        self,
        slot_id: str,
        timeout: float = WAIT_S,  # noqa: ASYNC109
    ) -> int:
        """Until the slot's channel exists and holds the wake message; its id."""

        def woken() -> int | None:
            channel_id = self.wake_channel(slot_id)
            if channel_id is None:
                return None
            return channel_id if self.bot_messages(channel_id) else None

        found = await self.fake.wait_for(woken, timeout, what=f"wake channel of slot {slot_id}")
        assert found is not None
        return found

    async def agent_says(self, agent: str, channel_id: int, text: str) -> dict[str, Any]:
        """The agent's bot account posts `text` in the channel (Discord's permission rules)."""
        return await self.fake.inject_message(channel_id, self.fake.agents[agent], text)

    @contextlib.asynccontextmanager
    async def session_forgotten(self) -> AsyncIterator[None]:
        """An outage after which Discord refuses the RESUME (it forgot the session, as after a
        long one): what is said inside reaches the bot by no event, only by reading back."""
        fake = self.fake
        assert fake.drop_connections(hold=True) >= 1
        await fake.wait_for(lambda: not fake.gateway.live_sessions(), 10, what="the session cut")
        for session in fake.gateway.sessions.values():
            session.invalid = True
        yield
        fake.release_gateway()
        await fake.wait_for(lambda: fake.gateway.live_sessions(), 15, what="a live session")

    def bot_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages the moderator wrote in the channel, oldest first."""
        me = str(self.fake.bot_user.id)
        return [m for m in self.fake.messages_in(channel_id) if m["author"]["id"] == me]

    async def wait_bot_messages(
        self,
        channel_id: int,
        count: int,
        timeout: float = WAIT_S,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Until the moderator has written at least `count` messages in the channel."""

        def enough() -> list[dict[str, Any]] | None:
            msgs = self.bot_messages(channel_id)
            return msgs if len(msgs) >= count else None

        found = await self.fake.wait_for(
            enough, timeout, what=f"{count} moderator message(s) in channel {channel_id}"
        )
        assert found is not None
        return found

    async def slot(self, slot_id: str) -> Slot:
        return await self.calendar.get_slot(slot_id)

    async def wait_status(
        self,
        slot_id: str,
        status: SlotStatus,
        timeout: float = WAIT_S,  # noqa: ASYNC109
    ) -> Slot:
        async def reached() -> Slot | None:
            slot = await self.calendar.get_slot(slot_id)
            return slot if slot.status is status else None

        found = await wait_until(reached, timeout, what=f"slot {slot_id} {status.value}")
        assert found is not None
        return found


class CalendarFaults(FaultSwitch):
    """Makes the served calendar answer 503 to chosen slot actions, like a backend outage.

    `down = {"complete"}` fails every `POST /calendar/slots/{id}/complete`; `down =
    {"*"}` fails every call. `failed` counts the refused requests.
    """

    def __init__(self) -> None:
        super().__init__()
        self._down: frozenset[str] = frozenset()

    @property
    def down(self) -> frozenset[str]:
        return self._down

    @down.setter
    def down(self, actions: Iterable[str]) -> None:
        self._down = frozenset(actions)
        self.fault = refusing_actions(self._down)

    @property
    def failed(self) -> int:
        return self.hits["status"]


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    tmp_path: Path,
    *,
    agents: Sequence[str] = DEFAULT_AGENTS,
    ready_timeout: float = WAIT_S,
    remote_calendar: bool = False,
    **overrides: Any,
) -> AsyncIterator[BotHarness]:
    """Start the real bot against `fake`, wait for READY and the moderator; close on exit.

    `remote_calendar=True`: the bot uses `CALENDAR_URL=http://…` served by a real calendar
    server in this process (over `harness.calendar`), with `harness.calendar_faults`.
    """
    faults: CalendarFaults | None = None
    async with contextlib.AsyncExitStack() as stack:
        if remote_calendar:
            # The bot talks HTTP to a real calendar server over this test's own store.
            served = await EmbeddedCalendar.open(tmp_path / "served-calendar.db", timezone=UTC_ZONE)
            stack.push_async_callback(served.close)
            faults = CalendarFaults()
            app = make_app(served)
            app.middlewares.insert(0, faults.middleware)
            server, port = await serve_app(app, "127.0.0.1", 0)
            stack.push_async_callback(server.cleanup)
            overrides["calendar_url"] = f"http://127.0.0.1:{port}"
        else:
            served = None
        async with _bot(fake, tmp_path, agents, ready_timeout, overrides, served) as harness:
            harness.calendar_faults = faults
            yield harness


@contextlib.asynccontextmanager
async def _bot(
    fake: FakeDiscord,
    tmp_path: Path,
    agents: Sequence[str],
    ready_timeout: float,
    overrides: dict[str, Any],
    served: EmbeddedCalendar | None,
) -> AsyncIterator[BotHarness]:
    settings = harness_settings(fake, tmp_path, **overrides)
    configs = [
        AgentConfig(id=name, discord_user_id=fake.agents[name].id if name in fake.agents else None)
        for name in agents
    ]
    bot = await open_bot(settings, configs, clock=SystemClock(), guild_ready_timeout=0.5)
    calendar = served if served is not None else bot.calendar
    async with started(fake, bot, ready_timeout):
        assert isinstance(calendar, EmbeddedCalendar)
        yield BotHarness(bot, fake, calendar, settings, configs, tmp_path)


@pytest.fixture
async def make_moderator_bot(
    fake_discord: FakeDiscord, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[BotHarness]]]:
    """Start bots with other settings: `await make_moderator_bot(agents=("alice",), ...)`."""
    async with contextlib.AsyncExitStack() as stack:
        count = 0

        async def make(**overrides: Any) -> BotHarness:
            nonlocal count
            count += 1
            where = tmp_path / f"bot{count}"
            where.mkdir()
            return await stack.enter_async_context(running_bot(fake_discord, where, **overrides))

        yield make


@pytest.fixture
async def moderator_bot(
    make_moderator_bot: Callable[..., Awaitable[BotHarness]],
) -> BotHarness:
    """The default harness: alice and bob, long loop intervals, admins role."""
    return await make_moderator_bot()


# ---- the bot as a subprocess --------------------------------------------------------


@pytest.fixture
async def spawn_receiver() -> AsyncIterator[SpawnReceiver]:
    async with serving_spawn_receiver() as receiver:
        yield receiver


@pytest.fixture
async def bot_processes() -> AsyncIterator[Callable[..., Awaitable[BotProcess]]]:
    """Start `python -m bot` subprocesses that are killed at teardown whatever happens."""
    started: list[BotProcess] = []

    async def start(env: Mapping[str, str], cwd: Path, *args: str) -> BotProcess:
        proc = await BotProcess.start(env, cwd, *args)
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            await proc.stop()
