"""Shared by the Discord benchmarks: the real `ModeratorBot` against the fake Discord.

The bot runs in the benchmark's own process and event loop, through discord.py's
real REST and gateway code (the same class, cogs and start-up as `python -m bot`);
the fake Discord and, where used, the calendar server share that loop. So every
figure includes the fake's own work (schema checks, gateway dispatch): it is an
upper bound on what the bot alone costs, never a flattering one.

Latency is measured where the issue puts it: from a slot's `scheduled_at` to the
moment the fake Discord accepted the wake message. The fake stamps each message
with wall time (`timestamp`), the clock `scheduled_at` is read against, so no
monotonic-to-wall mapping is involved in the headline figure. The per-stage
breakdown uses request arrival times, which the fake records on the monotonic
clock; `WallClock` maps them with an offset taken once, as the median of several
paired readings (the two clocks are read microseconds apart).

A `discord.gateway: Can't keep up ... websocket is 41.xs behind` warning during
a run is an artefact of loopback, not a stall: discord.py's keep-alive thread
records the heartbeat's send time only after the send returns, and the fake's
ACK, arriving microseconds later, can be handled on the loop first, so the
"latency" is measured from the previous heartbeat (one interval, 41.25 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.app.discord_bot import open_bot
from bot.app.settings import Settings
from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.models import SlotStatus
from bot.discord_io.channel_rules import topic_slot_id
from bot.discord_io.client import ModeratorBot
from bot.presenters.wake_message import marked_slot_id
from testkit.bots import harness_settings, started
from testkit.fakediscord import FakeDiscord, RecordedRequest

log = logging.getLogger("bench")

MESSAGES_ROUTE = "/channels/{channel_id}/messages"
CHANNELS_ROUTE = "/guilds/{guild_id}/channels"
READY_TIMEOUT_S = 300.0


# ---- small measures --------------------------------------------------------------


class WallClock:
    """Maps the fake's monotonic request stamps to wall time."""

    def __init__(self, samples: int = 9) -> None:
        offsets = []
        for _ in range(samples):
            before = time.monotonic()
            wall = time.time()
            after = time.monotonic()
            offsets.append(wall - (before + after) / 2)
        self.offset = statistics.median(offsets)

    def wall(self, monotonic_t: float) -> datetime:
        return datetime.fromtimestamp(monotonic_t + self.offset, UTC)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): always one of the measured values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Spread:
    p50: float
    p99: float
    max: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(
            percentile(values, 50),
            percentile(values, 99),
            max(values, default=math.nan),
            len(values),
        )


def rss_mb() -> float:
    """Resident set size now (VmRSS), in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """User + system CPU seconds of this process (all threads: aiosqlite's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LoopLag:
    """How late the event loop runs a 10 ms sleeper: a direct view of a saturated loop."""

    def __init__(self, period_s: float = 0.01) -> None:
        self.period_s = period_s
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> LoopLag:
        self._task = asyncio.create_task(self._run(), name="loop-lag-probe")
        return self

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.period_s)
            self.lags.append(time.perf_counter() - before - self.period_s)

    async def stop(self) -> list[float]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.lags


# ---- the wakes the fake saw ----------------------------------------------------


@dataclass
class Wake:
    slot_id: str
    agent: str
    channel_id: int
    #: The fake accepted the wake message (its wall-clock `timestamp`).
    message_at: datetime
    #: The wake message's request reached the fake (monotonic).
    message_request_t: float
    #: The channel's create request reached the fake (monotonic), if seen.
    channel_request_t: float | None = None


@dataclass
class WakeWatcher:
    """Sees every wake message as the fake records it and answers `reply` as the agent at once.

    It follows `fake.requests` (so it needs no hook into the fake) and wakes up
    whenever the fake records something.
    """

    fake: FakeDiscord
    owners: dict[str, str] = field(default_factory=dict)  # slot id -> agent name
    reply: str | None = "DONE"
    wakes: dict[str, Wake] = field(default_factory=dict)
    channel_requests: dict[str, float] = field(default_factory=dict)
    repeats: list[str] = field(default_factory=list)
    _scanned: int = 0
    _pending: list[int] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> WakeWatcher:
        self._task = asyncio.create_task(self._run(), name="wake-watcher")
        self._task.add_done_callback(_log_end)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _has_news(self) -> bool:
        requests = self.fake.requests
        return len(requests) > self._scanned or any(
            requests[i].status is not None for i in self._pending
        )

    async def _run(self) -> None:
        while True:
            await self.fake.wait_for(self._has_news, timeout=1e9, what="news")
            requests = self.fake.requests
            ready: list[RecordedRequest] = []
            still: list[int] = []
            for index in [*self._pending, *range(self._scanned, len(requests))]:
                record = requests[index]
                if record.status is None:
                    still.append(index)
                else:
                    ready.append(record)
            self._scanned = len(requests)
            self._pending = still
            for record in ready:
                await self._seen(record)
            await asyncio.sleep(0)

    async def _seen(self, record: RecordedRequest) -> None:
        if record.method != "POST" or record.status is None or record.status >= 300:
            return
        body = record.json if isinstance(record.json, dict) else {}
        if record.route == CHANNELS_ROUTE:
            slot_id = topic_slot_id(body.get("topic"))
            if slot_id is not None:
                self.channel_requests.setdefault(slot_id, record.t)
            return
        if record.route != MESSAGES_ROUTE:
            return
        slot_id = marked_slot_id(body.get("content"))
        if slot_id is None:
            return
        if slot_id in self.wakes:
            self.repeats.append(slot_id)
            return
        channel_id = int(record.params["channel_id"])
        agent = self.owners.get(slot_id)
        message = next(
            (
                m
                for m in self.fake.messages_in(channel_id)
                if marked_slot_id(m.get("content")) == slot_id
            ),
            None,
        )
        if agent is None or message is None:
            log.warning("wake message for unknown slot %s in channel %s", slot_id, channel_id)
            return
        self.wakes[slot_id] = Wake(
            slot_id=slot_id,
            agent=agent,
            channel_id=channel_id,
            message_at=datetime.fromisoformat(message["timestamp"]),
            message_request_t=record.t,
            channel_request_t=self.channel_requests.get(slot_id),
        )
        if self.reply is not None:
            await self.fake.inject_message(channel_id, self.fake.agents[agent], self.reply)

    async def wait_for(self, slot_ids: Iterable[str], timeout: float) -> bool:  # noqa: ASYNC109
        """Until every slot in `slot_ids` was woken; False (not raised) when time ran out."""
        wanted = set(slot_ids)
        try:
            await self.fake.wait_for(
                lambda: wanted <= self.wakes.keys(), timeout, what="every wake message"
            )
        except TimeoutError:
            return False
        return True


@dataclass
class WakeStages:
    """Wake latencies and where each went, in seconds: due -> claimed (the calendar's
    `start` event), claimed -> channel create request, channel request -> message accepted."""

    latencies: list[float] = field(default_factory=list)
    to_claim: list[float] = field(default_factory=list)
    claim_to_channel: list[float] = field(default_factory=list)
    channel_to_message: list[float] = field(default_factory=list)

    async def add(
        self, wake: Wake, due: datetime, calendar: EmbeddedCalendar, clock: WallClock
    ) -> bool:
        """Record one wake; False when its claim or channel request was not seen (then
        only its latency counts)."""
        self.latencies.append((wake.message_at - due).total_seconds())
        events = await calendar.slot_events(wake.slot_id)
        claimed = next((e.at for e in events if e.action == "start"), None)
        if claimed is None or wake.channel_request_t is None:
            return False
        channel_at = clock.wall(wake.channel_request_t)
        self.to_claim.append((claimed - due).total_seconds())
        self.claim_to_channel.append((channel_at - claimed).total_seconds())
        self.channel_to_message.append((wake.message_at - channel_at).total_seconds())
        return True


async def wait_finished(
    calendar: EmbeddedCalendar,
    slot_ids: Iterable[str],
    timeout_s: float,
) -> int:
    """How many of the slots are FINISHED once all are, or after `timeout_s` (polled every
    0.1 s): the agents' DONE replies take a moment to land."""
    ids = list(slot_ids)
    finished = 0
    for _ in range(round(timeout_s / 0.1)):
        slots = [await calendar.get_slot(sid) for sid in ids]
        finished = sum(1 for s in slots if s.status is SlotStatus.FINISHED)
        if finished == len(ids):
            break
        await asyncio.sleep(0.1)
    return finished


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the wake watcher died", exc_info=task.exception())


def route_counts(
    requests: Iterable[RecordedRequest], since_t: float, until_t: float
) -> dict[str, int]:
    """REST requests per `METHOD route` that reached the fake within [since, until]."""
    counts: dict[str, int] = {}
    for record in requests:
        if since_t <= record.t <= until_t:
            key = f"{record.method} {record.route}"
            body = record.json if isinstance(record.json, dict) else {}
            if record.route == CHANNELS_ROUTE and body.get("type") == 4:
                key += " (category)"
            if record.status is not None and record.status >= 300:
                key += f" -> {record.status}"
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def wake_categories(fake: FakeDiscord, base: str) -> dict[str, int]:
    """Our wake categories (`base`, `base-2`, ...) and how many channels each holds."""
    cats = {
        int(cid): ch["name"]
        for cid, ch in fake.channels.items()
        if ch["type"] == 4 and (ch["name"] == base or ch["name"].startswith(base + "-"))
    }
    held = dict.fromkeys(cats.values(), 0)
    for ch in fake.channels.values():
        parent = ch.get("parent_id")
        if parent is not None and int(parent) in cats:
            held[cats[int(parent)]] += 1
    return held


# ---- running the bot ---------------------------------------------------------------


def bench_settings(fake: FakeDiscord, folder: Path, **values: Any) -> Settings:
    """The tests' settings against the fake (files in `folder`) with production intervals and
    nothing optional configured; `values` on top."""
    production: dict[str, Any] = {
        "timezone": "UTC",
        "sync_interval_s": 300.0,
        "check_interval_s": 30.0,
        "channel_retention_s": 86400.0,
        "misfire_grace_s": None,
        "calendar_listen": None,
        "spawn_url": None,
        "spawn_command": None,
        "calendar_token": None,
        "log_level": "WARNING",
    }
    production.update(values)
    return harness_settings(fake, folder, **production)


@contextlib.asynccontextmanager
async def served_calendar(
    path: Path, zone: ZoneInfo
) -> AsyncIterator[tuple[EmbeddedCalendar, str]]:
    """The real calendar server on 127.0.0.1 over an embedded store: (store, CALENDAR_URL)."""
    store = await EmbeddedCalendar.open(path, timezone=zone)
    runner: web.AppRunner | None = None
    try:
        runner, port = await start_server(store, "127.0.0.1", 0)
        yield store, f"http://127.0.0.1:{port}"
    finally:
        if runner is not None:
            await runner.cleanup()
        await store.close()


@contextlib.asynccontextmanager
async def running_moderator(
    fake: FakeDiscord,
    settings: Settings,
    agents: Sequence[str],
    *,
    precise_timer: bool = True,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> AsyncIterator[ModeratorBot]:
    """`ModeratorBot` as `python -m bot` runs it, until READY and the moderator's start-up."""
    configs = [AgentConfig(id=name, discord_user_id=fake.agents[name].id) for name in agents]
    bot = await open_bot(settings, configs, precise_timer=precise_timer, guild_ready_timeout=0.5)
    async with started(fake, bot, ready_timeout_s, slow_exit_ok=True):
        yield bot


def add_fake_options(parser: argparse.ArgumentParser) -> None:
    """The options every fake-Discord benchmark takes: `--spec` and `--log-level`."""
    parser.add_argument(
        "--spec",
        action="store_true",
        help="have the fake also check every body against Discord's OpenAPI spec (slower)",
    )
    parser.add_argument("--log-level", default="WARNING")


def run_bench(
    main: Callable[[argparse.Namespace], Coroutine[Any, Any, int]], args: argparse.Namespace
) -> None:
    """Log at `--log-level`, run `main(args)` and exit with its status."""
    configure_logging(args.log_level)
    sys.exit(asyncio.run(main(args)))


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
