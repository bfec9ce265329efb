"""The real `ModeratorBot` against the fake Discord: fixtures and helpers for end-to-end tests.

In-process (most tests)::

    # tests/<area>/conftest.py
    from tests.e2e.harness import make_moderator_bot, moderator_bot  # noqa: F401
    from tests.fakediscord.fixtures import fake_discord, make_fake_discord  # noqa: F401

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
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from bot.app.discord_bot import open_bot
from bot.app.settings import Settings, load_settings
from bot.calendar.server import make_app, serve_app
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.clock import SystemClock
from bot.core.models import Slot, SlotCreate, SlotStatus
from bot.discord_io.channel_rules import topic_slot_id
from bot.discord_io.client import ModeratorBot
from tests.fakediscord import FakeDiscord

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_AGENTS: tuple[str, ...] = ("alice", "bob")
#: Generous ceilings: these tests must pass on a loaded 2-core machine.
WAIT_S = 20.0
UTC_ZONE = ZoneInfo("UTC")

T = TypeVar("T")


def agents_toml(fake: FakeDiscord, names: Sequence[str], **extra: Mapping[str, Any]) -> str:
    """An AGENTS_FILE for `names`, each with the fake's user id (plus `extra[name]` keys)."""
    lines: list[str] = []
    for name in names:
        lines.append("[[agents]]")
        lines.append(f'id = "{name}"')
        if name in fake.agents:
            lines.append(f"discord_user_id = {fake.agents[name].id}")
        for key, value in extra.get(name, {}).items():
            lines.append(f"{key} = {value!r}".replace("'", '"'))
        lines.append("")
    return "\n".join(lines)


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


@dataclass
class CalendarFaults:
    """Makes the served calendar answer 503 to chosen slot actions, like a backend outage.

    `down = {"complete"}` fails every `POST /calendar/slots/{id}/complete`; `down =
    {"*"}` fails every call. `failed` counts the refused requests.
    """

    down: set[str] = field(default_factory=set)
    failed: int = 0

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        action = request.path.rstrip("/").rsplit("/", 1)[-1]
        if "*" in self.down or (request.method == "POST" and action in self.down):
            self.failed += 1
            return web.json_response(
                {"error": "unavailable", "detail": "injected outage"}, status=503
            )
        return await handler(request)


def harness_settings(fake: FakeDiscord, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "discord_token": fake.token,
        "discord_guild_id": fake.guild_id,
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.ws_url,
        "admin_role_id": fake.admin_role.id,
        "calendar_url": f"sqlite:///{tmp_path / 'calendar.db'}",
        "state_path": tmp_path / "state.db",
        "agents_file": tmp_path / "agents.toml",
        "check_interval_s": 3600,
        "sync_interval_s": 3600,
        "channel_retention_s": 3600,
        "log_level": "DEBUG",
    }
    values.update(overrides)
    return load_settings(**values)


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


@contextlib.asynccontextmanager
async def started(
    fake: FakeDiscord,
    bot: ModeratorBot,
    ready_timeout: float = WAIT_S,
    *,
    slow_exit_ok: bool = False,
) -> AsyncIterator[ModeratorBot]:
    """Run an opened `bot` as `python -m bot` does (`bot.start(token)` in the background)
    until READY, the guild cached and the moderator started; close it on exit.

    Re-raises whatever made `start` fail before it was ready. The bot gets 10 s to
    stop after `close()`; past that the exit fails, unless `slow_exit_ok` (benchmarks,
    whose figures are taken by then).
    """
    task = asyncio.create_task(bot.start(fake.token), name="moderator-bot")
    try:
        await fake.wait_for(
            lambda: (
                task.done()
                or (
                    bot.is_ready()
                    and bot.get_guild(fake.guild_id) is not None
                    and bot.moderator_started.is_set()
                )
            ),
            ready_timeout,
            what="ModeratorBot READY with the guild cached and the moderator started",
        )
        if task.done():
            task.result()
            raise RuntimeError("the bot stopped before it was ready")
        yield bot
    finally:
        await bot.close()
        tolerated: tuple[type[BaseException], ...] = (TimeoutError,) if slow_exit_ok else ()
        with contextlib.suppress(asyncio.CancelledError, *tolerated):
            await asyncio.wait_for(task, timeout=10)


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


def bot_env(
    fake: FakeDiscord | None,
    tmp_path: Path,
    *,
    agents: Sequence[str] = DEFAULT_AGENTS,
    agent_extra: Mapping[str, Mapping[str, Any]] | None = None,
    **settings: str,
) -> dict[str, str]:
    """The environment for `python -m bot` in `tmp_path`: the fake's Discord variables (when a
    fake is given), calendar/state/agents files in `tmp_path`, long loop intervals, and
    `settings` (upper-case names, e.g. SPAWN_URL="...") on top. The parent's Discord
    and spawn variables are dropped so the test decides alone."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "SPAWN_", "CALENDAR_", "ADMIN_ROLE"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    if fake is not None:
        env.update(fake.env())
    names = list(agents)
    if fake is not None:
        text = agents_toml(fake, names, **dict(agent_extra or {}))
    else:
        text = "\n".join(f'[[agents]]\nid = "{n}"\n' for n in names)
    (tmp_path / "agents.toml").write_text(text, encoding="utf-8")
    env.update(
        {
            "CALENDAR_URL": f"sqlite:///{tmp_path / 'calendar.db'}",
            "STATE_PATH": str(tmp_path / "state.db"),
            "AGENTS_FILE": str(tmp_path / "agents.toml"),
            "CHECK_INTERVAL_S": "3600",
            "SYNC_INTERVAL_S": "3600",
            "LOG_LEVEL": "INFO",
        }
    )
    env.update(settings)
    return env


#: The secret in the spawn receiver's URL path: a test can check it never reaches a log.
SPAWN_SECRET = "hook-secret-4711"


@dataclass
class SpawnReceiver:
    """A real spawn webhook on 127.0.0.1: records every wake POSTed to it (body and
    Idempotency-Key) and answers 200."""

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.keys.append(request.headers.get("Idempotency-Key"))
        self.bodies.append(json.loads(await request.text()))
        return web.json_response({"ok": True})


@contextlib.asynccontextmanager
async def serving_spawn_receiver() -> AsyncIterator[SpawnReceiver]:
    """A `SpawnReceiver` listening at `url` (…/wake/SPAWN_SECRET) until the block ends."""
    receiver = SpawnReceiver()
    app = web.Application()
    app.router.add_post("/wake/{secret}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/wake/{SPAWN_SECRET}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@pytest.fixture
async def spawn_receiver() -> AsyncIterator[SpawnReceiver]:
    async with serving_spawn_receiver() as receiver:
        yield receiver


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now (for CALENDAR_LISTEN)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def open_calendar_file(tmp_path: Path) -> EmbeddedCalendar:
    """The subprocess's calendar file, opened by the test (SQLite WAL: both may write)."""
    return await EmbeddedCalendar.open(tmp_path / "calendar.db", timezone=UTC_ZONE)


async def due_slot(tmp_path: Path, agent: str, title: str, prompt: str = "Do the thing.") -> Slot:
    """A slot due a second ago, written to the calendar file before the bot starts."""
    calendar = await open_calendar_file(tmp_path)
    try:
        return await calendar.create_slot(
            SlotCreate(
                agent_id=agent,
                scheduled_at=datetime.now(UTC) - timedelta(seconds=1),
                title=title,
                prompt=prompt,
            )
        )
    finally:
        await calendar.close()


async def slot_in_file(tmp_path: Path, slot_id: str) -> Slot:
    calendar = await open_calendar_file(tmp_path)
    try:
        return await calendar.get_slot(slot_id)
    finally:
        await calendar.close()


async def status_in_file(tmp_path: Path, slot_id: str) -> SlotStatus:
    return (await slot_in_file(tmp_path, slot_id)).status


@dataclass
class BotProcess:
    """`python -m bot` running in a subprocess; its stderr goes to `log_path`."""

    proc: asyncio.subprocess.Process
    log_path: Path
    _log_file: Any = field(repr=False, default=None)

    @classmethod
    async def start(
        cls, env: Mapping[str, str], cwd: Path, *args: str, name: str = "bot"
    ) -> BotProcess:
        index = 0
        while (cwd / f"{name}-{index}.log").exists():
            index += 1
        log_path = cwd / f"{name}-{index}.log"
        log_file = log_path.open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            cwd=str(cwd),
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(proc, log_path, log_file)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def wait_log(self, text: str, timeout: float = WAIT_S) -> None:  # noqa: ASYNC109
        """Until `text` appears in the output; fails early (with the log) if the bot exits."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if self.proc.returncode is not None:
                raise AssertionError(
                    f"the bot exited ({self.proc.returncode}) before logging {text!r}:\n"
                    + self.log_text()[-4000:]
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{text!r} not logged within {timeout}s:\n" + self.log_text()[-4000:]
                )
            await asyncio.sleep(0.05)

    def send_signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self, timeout: float = WAIT_S) -> int:  # noqa: ASYNC109
        """The exit status; TimeoutError (with the log) if it does not exit in time."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"the bot did not exit within {timeout}s:\n" + self.log_text()[-4000:]
            ) from None
        finally:
            if self.proc.returncode is not None and self._log_file is not None:
                self._log_file.close()
                self._log_file = None
        return code

    async def stop(self) -> None:
        """Make sure it is gone (teardown): SIGKILL if still running."""
        if self.proc.returncode is None:
            self.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


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
