"""Backend load: calendar requests and bytes per agent-hour with idle agents and unchanged days.

Run: `python bench/backend_load.py [--agents 5] [--scale 100] [--hours 1] [--slots 8]`

The real `Moderator` (production timers and loops, `SystemClock`) talks through
the real `HttpCalendar` to the real calendar server on 127.0.0.1; a meter
middleware at the server counts every request (route, status, wire bytes each
way). Time is compressed by `--scale`: the sync loop runs every 300/scale s
and the check interval is 30/scale s, so `3600 / scale` real seconds are one
hour at the default intervals (36 s at the default scale of 100), and counts
are scaled back by the same factor. Only the steady state is counted; start-up
(first full sync) is shown on its own.

Every agent has a day of slots: half finished this morning, half later today,
so nothing is due and nothing changes during the run. The calendar runs in a
fixed-offset zone where it is about noon now, so the run never crosses midnight.

Three designs run one after the other against a fresh server each:

* the original heartbeat design: one `POST /calendar/agent/heartbeat` per agent
  every 60 s, answering the pending slots (60 requests/agent-hour by design);
* the seed's refactor plan without ETags: this moderator with the server
  ignoring `If-None-Match`, so every day sync is a full 200;
* this moderator as shipped (day sync with `If-None-Match`).

Targets (this moderator): <= 24 requests/agent-hour; >= 90 % of day syncs
answered 304. Exit status 1 when a target is missed.

Then, with the change feed healthy (DESIGN §4.1), `--feed-agents` (1,000)
idle agents of one moderator that follows the server's change feed: the sync
loop is then one batched heartbeat for all agents plus a rare safety re-read
of each day, and the feed one long poll for all agents (its `wait` compressed
like the intervals). Targets: <= 1 request/agent-hour; a change made by REST
afterwards is in the moderator's cache within 1 s (p99); no agent's heartbeat
is ever older than the calendar's 10 minutes (so none is shown offline).
`--feed-only` runs only this part.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import TrafficMeter, midday_zone
from bot.calendar.client import HttpCalendar
from bot.calendar.client.feed import POLL_WAIT_S
from bot.calendar.client.transport import CALENDAR_RETRY
from bot.calendar.server import make_app, serve_app
from bot.calendar.store import EmbeddedCalendar
from bot.calendar.store.agents import HEARTBEAT_FRESH
from bot.core.agents import AgentConfig
from bot.core.clock import SystemClock
from bot.core.models import Action, HeartbeatStatus, Slot, SlotCreate, SlotEdit, SlotStatus
from bot.core.moderator import Moderator
from bot.core.periodic import SAFETY_RESYNC_S
from bot.core.state import StateStore
from testkit.wakers import RecordingWaker

DEFAULT_SYNC_S = 300.0
DEFAULT_CHECK_S = 30.0
ORIGINAL_HEARTBEAT_S = 60.0
DAY_ROUTE = "GET /calendar/day"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def ignore_etags(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The seed plan's backend: no conditional GET, so every day sync answers in full."""
    if "If-None-Match" not in request.headers:
        return await handler(request)
    headers = request.headers.copy()
    del headers["If-None-Match"]
    return await handler(request.clone(headers=headers))


@dataclass
class Outcome:
    design: str
    agents: int
    hours: float
    meter: TrafficMeter
    startup: TrafficMeter | None = None
    wakes: int = 0

    def per_agent_hour(self, value: float) -> float:
        return value / self.agents / self.hours

    @property
    def requests(self) -> float:
        return self.per_agent_hour(self.meter.requests())

    @property
    def bytes(self) -> float:
        return self.per_agent_hour(self.meter.bytes_in() + self.meter.bytes_out())

    @property
    def day_syncs(self) -> int:
        return self.meter.requests(DAY_ROUTE)

    @property
    def share_304(self) -> float | None:
        total = self.day_syncs
        return self.meter.requests(DAY_ROUTE, 304) / total if total else None


async def populate(cal: EmbeddedCalendar, agents: list[str], slots: int, tz: ZoneInfo) -> None:
    """Half the day's slots finished this morning, half still to come this evening."""
    now = datetime.now(tz)
    morning = now.replace(hour=0, minute=30, second=0, microsecond=0)
    evening = now.replace(hour=18, minute=0, second=0, microsecond=0)
    assert now - morning > timedelta(hours=6) and evening - now > timedelta(hours=4)
    half = slots // 2
    spacing = min(timedelta(minutes=20), timedelta(hours=5) / max(half, slots - half))
    for agent in agents:
        for k in range(slots):
            past = k < half
            at = morning + spacing * k if past else evening + spacing * (k - half)
            slot = await cal.create_slot(
                SlotCreate(
                    agent_id=agent,
                    scheduled_at=at,
                    priority=10 * (k % 10),
                    title=f"{agent} task {k}",
                    prompt="Review the open pull requests and summarise what needs a decision.",
                    estimated_duration_min=30,
                    allow_past=past,  # this morning's, finished: history
                )
            )
            if past:
                started = await cal.transition(slot.id, Action.START, agent_id=agent)
                await cal.transition(started.id, Action.COMPLETE, agent_id=agent, note="done")


@dataclass
class Backend:
    """A populated embedded calendar served on 127.0.0.1, metered, and a client of it."""

    folder: Path
    tz: ZoneInfo
    clock: SystemClock
    client: HttpCalendar
    meter: TrafficMeter
    store: EmbeddedCalendar


@contextlib.asynccontextmanager
async def served_backend(
    agents: list[str],
    slots: int,
    *extra: Callable[..., Awaitable[web.StreamResponse]],
    feed_wait_s: float | None = None,
) -> AsyncIterator[Backend]:
    """A fresh calendar holding every agent's day (`populate`) behind the real server, with
    `extra` middlewares inside the meter; all closed on exit. The client follows the
    change feed with polls of `feed_wait_s` when given."""
    tz = midday_zone(datetime.now(UTC))
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as folder:
        cal = await EmbeddedCalendar.open(Path(folder) / "calendar.db", timezone=tz, clock=clock)
        await populate(cal, agents, slots, tz)
        app = make_app(cal)
        for position, middleware in enumerate(extra):
            app.middlewares.insert(position, middleware)
        meter = TrafficMeter()
        meter.install(app)  # outermost: counts what the client sent and got
        runner, port = await serve_app(app, "127.0.0.1", 0)
        feed = {} if feed_wait_s is None else {"agents": agents, "feed_wait_s": feed_wait_s}
        client = HttpCalendar(
            f"http://127.0.0.1:{port}",
            timezone=tz,
            retry=replace(CALENDAR_RETRY, timeout_s=5.0),
            **feed,
        )
        try:
            yield Backend(Path(folder), tz, clock, client, meter, cal)
        finally:
            await client.close()
            await runner.cleanup()
            await cal.close()


@contextlib.asynccontextmanager
async def running_moderator(
    backend: Backend, agents: list[str], scale: float, **options: Any
) -> AsyncIterator[tuple[Moderator, RecordingWaker, TrafficMeter]]:
    """The production moderator of `agents` on `backend`, started (its start-up's traffic
    counted apart) with its loops at the compressed sync interval; stopped on exit."""
    state = await StateStore.open(backend.folder / "state.db", clock=backend.clock)
    waker = RecordingWaker(backend.clock, name="counting")  # idle agents: any wake is a fault
    moderator = Moderator(
        [AgentConfig(id=a) for a in agents],
        backend.client,
        state,
        waker,
        backend.clock,
        timezone=backend.tz,
        **options,
    )
    try:
        await moderator.start()
        startup = TrafficMeter()
        startup.counts = dict(backend.meter.counts)
        moderator.start_loops(sync_interval_s=DEFAULT_SYNC_S / scale)
        yield moderator, waker, startup
    finally:
        await moderator.stop()
        await state.close()


async def measured_window(meter: TrafficMeter, settle_s: float, window_s: float) -> float:
    """Count only a window that opens `settle_s` in (half a loop period, so no cycle sits
    on its edge) and lasts `window_s`; the real seconds it lasted."""
    await asyncio.sleep(settle_s)
    meter.reset()
    began = time.perf_counter()
    await asyncio.sleep(window_s)
    return time.perf_counter() - began


async def run_moderator(
    design: str, agents: list[str], slots: int, scale: float, hours: float, *, etags: bool
) -> Outcome:
    extra = () if etags else (ignore_etags,)
    async with (
        served_backend(agents, slots, *extra) as backend,
        running_moderator(backend, agents, scale, check_interval_s=DEFAULT_CHECK_S / scale) as (
            _,
            waker,
            startup,
        ),
    ):
        meter = backend.meter
        elapsed = await measured_window(meter, DEFAULT_SYNC_S / scale / 2, hours * 3600 / scale)
    return Outcome(
        design,
        len(agents),
        elapsed * scale / 3600,
        meter,
        startup=startup,
        wakes=len(waker.calls),
    )


async def run_original(agents: list[str], slots: int, scale: float, hours: float) -> Outcome:
    """The design before the seed's refactor: every agent heartbeats every 60 s for its slots."""
    async with served_backend(agents, slots) as backend:
        client, meter = backend.client, backend.meter
        due: list[Slot] = []

        async def agent_loop(agent: str) -> None:
            # like setInterval: on a fixed beat, not drifting by the request's own time
            period = ORIGINAL_HEARTBEAT_S / scale
            beat = time.perf_counter()
            while True:
                beat += period
                await asyncio.sleep(max(0.0, beat - time.perf_counter()))
                due.extend(await client.heartbeat(agent, HeartbeatStatus.IDLE))

        loops = [asyncio.create_task(agent_loop(a)) for a in agents]
        try:
            elapsed = await measured_window(
                meter, ORIGINAL_HEARTBEAT_S / scale / 2, hours * 3600 / scale
            )
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
    return Outcome(
        "original: heartbeat every 60 s", len(agents), elapsed * scale / 3600, meter, wakes=len(due)
    )


@dataclass
class FeedOutcome(Outcome):
    """The run with the change feed healthy: also how fast changes showed, how stale the
    calendar's view of the agents' liveness got (in default-interval seconds)."""

    visible_ms: list[float] = field(default_factory=list)
    oldest_heartbeat_s: float = 0.0
    offline_seen: int = 0


async def heartbeat_ages(store: EmbeddedCalendar, agents: list[str], every_s: float) -> list[float]:
    """Sample, until cancelled, each agent's heartbeat age as the calendar sees it (real s)."""
    ages: list[float] = []
    try:
        while True:
            await asyncio.sleep(every_s)
            now = datetime.now(UTC)
            for agent in agents:
                status = await store.agent_status(agent)
                if status.status == "offline" or status.last_heartbeat_at is None:
                    ages.append(float("inf"))
                else:
                    ages.append((now - status.last_heartbeat_at).total_seconds())
    except asyncio.CancelledError:
        return ages


async def change_visibility(
    backend: Backend, moderator: Moderator, agents: list[str], count: int
) -> list[float]:
    """Edit a pending slot of `count` agents by REST, one after the other; for each, the
    milliseconds until the moderator's cache holds the new version (5 s at most)."""
    picked = agents[:: max(1, len(agents) // count)][:count]
    shown: list[float] = []
    for n, agent in enumerate(picked):
        cache = moderator.scheduler(agent).cache
        pending = [s for s in cache.get_all() if s.status is SlotStatus.NOT_STARTED]
        began = time.perf_counter()
        edited = await backend.client.edit_slot(pending[0].id, SlotEdit(title=f"edited {n}"))
        while time.perf_counter() - began < 5.0:
            held = cache.get(edited.id)
            if held is not None and held.version >= edited.version:
                shown.append((time.perf_counter() - began) * 1000)
                break
            await asyncio.sleep(0.001)
        else:
            shown.append(float("inf"))
        await asyncio.sleep(0.05)
    return shown


async def run_with_feed(
    agents: list[str], slots: int, scale: float, hours: float, changes: int
) -> FeedOutcome:
    """This moderator following the server's change feed, everything compressed by `scale`
    but the check interval (idle checks ask the calendar nothing; 1,000 agents' timers at
    0.3 s would only burn the CPU the server needs)."""
    async with served_backend(agents, slots, feed_wait_s=POLL_WAIT_S / scale) as backend:
        meter = backend.meter
        async with running_moderator(
            backend,
            agents,
            scale,
            check_interval_s=DEFAULT_CHECK_S,
            changes=backend.client,
            safety_resync_s=SAFETY_RESYNC_S / scale,
        ) as (moderator, waker, startup):
            sampler = asyncio.create_task(heartbeat_ages(backend.store, agents, 60.0 / scale))
            elapsed = await measured_window(meter, DEFAULT_SYNC_S / scale / 2, hours * 3600 / scale)
            sampler.cancel()
            ages = await sampler
            idle = TrafficMeter()
            idle.counts = {key: replace(row) for key, row in meter.counts.items()}
            feed_up = moderator.news_flowing
            visible = await change_visibility(backend, moderator, agents, changes)
    if not feed_up:
        print("WARNING: the change feed was not up at the end of the window")
    return FeedOutcome(
        f"this moderator, change feed healthy ({len(agents)} agents)",
        len(agents),
        elapsed * scale / 3600,
        idle,
        startup=startup,
        wakes=len(waker.calls),
        visible_ms=visible,
        oldest_heartbeat_s=max(ages, default=0.0) * scale,
        offline_seen=sum(1 for age in ages if age == float("inf")),
    )


def per_route(o: Outcome) -> None:
    print(f"\nper route, {o.design} (per agent-hour; {o.hours:.2f} h x {o.agents} agents)")
    for (route, status), row in sorted(o.meter.counts.items()):
        sent_in = kib(o.per_agent_hour(row.bytes_in))
        sent_out = kib(o.per_agent_hour(row.bytes_out))
        print(
            f"  {route:<40} {status:>3} {o.per_agent_hour(row.requests):>7.3f} req "
            f"{sent_in:>10} in {sent_out:>10} out"
        )
    if o.startup is not None:
        s = o.startup
        print(
            f"  start-up, once per agent: {s.requests() / o.agents:.2f} requests, "
            f"{kib((s.bytes_in() + s.bytes_out()) / o.agents)} "
            f"(day answered 200: {s.requests(DAY_ROUTE, 200)})"
        )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def report_feed(o: FeedOutcome, args: argparse.Namespace) -> list[tuple[str, bool, str]]:
    print(
        f"\nwith the change feed healthy: {o.agents} idle agents, SYNC_INTERVAL_S=300 "
        f"(time x{args.scale:g}: sync {DEFAULT_SYNC_S / args.scale:g} s, feed wait "
        f"{POLL_WAIT_S / args.scale:g} s, safety re-read every "
        f"{SAFETY_RESYNC_S / args.scale:g} s real)"
    )
    print(f"  {o.requests:.3f} requests/agent-hour, {kib(o.bytes)}/agent-hour")
    per_route(o)
    shown = o.visible_ms
    p50, p99 = percentile(shown, 0.5), percentile(shown, 0.99)
    print(
        f"\n  {len(shown)} REST edits -> in the moderator's cache: p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms, max {max(shown, default=float('nan')):.1f} ms"
    )
    print(
        f"  oldest heartbeat the calendar held during the window: {o.oldest_heartbeat_s:.0f} s "
        f"at default intervals (offline after {HEARTBEAT_FRESH.total_seconds():.0f} s); "
        f"offline seen {o.offline_seen} time(s)"
    )
    return [
        ("feed: requests/agent-hour <= 1", o.requests <= 1.0, f"{o.requests:.3f}"),
        ("feed: change in the cache within 1 s (p99)", p99 <= 1000.0, f"{p99:.1f} ms"),
        (
            "feed: no agent shown offline",
            o.offline_seen == 0 and o.oldest_heartbeat_s < HEARTBEAT_FRESH.total_seconds(),
            f"oldest {o.oldest_heartbeat_s:.0f} s",
        ),
        ("feed: no agent woken (nothing was due)", o.wakes == 0, "ok"),
    ]


def kib(value: float) -> str:
    return f"{value / 1024:.1f} KiB"


def report(outcomes: list[Outcome], args: argparse.Namespace) -> list[tuple[str, bool, str]]:
    print(
        f"\nbackend load: {args.agents} idle agents, {args.slots} slots/day each, unchanged; "
        f"time x{args.scale:g} (sync {DEFAULT_SYNC_S / args.scale:g} s, "
        f"check {DEFAULT_CHECK_S / args.scale:g} s real), {args.hours:g} h at default intervals\n"
    )
    header = f"{'design':<48} {'req/agent-h':>11} {'bytes/agent-h':>14} {'day syncs':>9} {'304':>6}"
    print(header)
    print("-" * len(header))
    for o in outcomes:
        share = "n/a" if o.share_304 is None else f"{o.share_304:.0%}"
        syncs = f"{o.per_agent_hour(o.day_syncs):.1f}" if o.day_syncs else "-"
        print(f"{o.design:<48} {o.requests:>11.1f} {kib(o.bytes):>14} {syncs:>9} {share:>6}")
    ours = outcomes[-1]
    per_route(ours)
    original = outcomes[0]
    print(
        f"\nvs the original heartbeat design: {ours.requests / original.requests:.0%} of its "
        f"requests, {ours.bytes / original.bytes:.0%} of its bytes"
    )
    if len(outcomes) > 2:
        plain = outcomes[1]
        print(f"vs itself without ETags: {ours.bytes / plain.bytes:.0%} of its bytes")
    checks = [
        ("requests/agent-hour <= 24", ours.requests <= 24.0, f"{ours.requests:.1f}"),
        (
            "day syncs answered 304 >= 90 %",
            ours.share_304 is not None and ours.share_304 >= 0.9,
            "n/a" if ours.share_304 is None else f"{ours.share_304:.1%}",
        ),
        ("no agent woken (nothing was due)", all(o.wakes == 0 for o in outcomes), "ok"),
    ]
    return checks


def verdict(checks: list[tuple[str, bool, str]]) -> int:
    print()
    for name, ok, value in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}  ({value})")
    return 0 if all(ok for _, ok, _ in checks) else 1


async def main_async(args: argparse.Namespace) -> tuple[list[Outcome], FeedOutcome | None]:
    feed: FeedOutcome | None = None
    if args.feed_agents:
        fleet = [f"agent{n:04d}" for n in range(args.feed_agents)]
        feed = await run_with_feed(fleet, 2, args.scale, args.hours, args.changes)
    if args.feed_only:
        return [], feed
    agents = [f"agent{n:02d}" for n in range(args.agents)]
    outcomes = [await run_original(agents, args.slots, args.scale, args.hours)]
    if not args.skip_plain:
        outcomes.append(
            await run_moderator(
                "this moderator without ETags",
                agents,
                args.slots,
                args.scale,
                args.hours,
                etags=False,
            )
        )
    outcomes.append(
        await run_moderator(
            "this moderator: sync 5 min (ETag) + check 30 s",
            agents,
            args.slots,
            args.scale,
            args.hours,
            etags=True,
        )
    )
    return outcomes, feed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--slots", type=int, default=8, help="slots per agent per day")
    parser.add_argument(
        "--scale", type=float, default=100.0, help="time compression (sync 300/scale s)"
    )
    parser.add_argument("--hours", type=float, default=1.0, help="hours at default intervals")
    parser.add_argument(
        "--skip-plain", action="store_true", help="skip the no-ETag run (saves one run's time)"
    )
    parser.add_argument(
        "--feed-agents", type=int, default=1000, help="agents of the change-feed run (0: skip it)"
    )
    parser.add_argument("--changes", type=int, default=50, help="REST edits timed in that run")
    parser.add_argument("--feed-only", action="store_true", help="only the change-feed run")
    args = parser.parse_args()
    if args.agents < 1 or args.scale <= 0 or args.hours <= 0 or args.slots < 2:
        parser.error("--agents >= 1, --slots >= 2, --scale > 0 and --hours > 0")
    if args.feed_agents < 0 or args.changes < 1 or (args.feed_only and not args.feed_agents):
        parser.error("--feed-agents >= 0 (> 0 with --feed-only) and --changes >= 1")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bot.core.state").setLevel(
        logging.ERROR
    )  # "starting with empty state" is expected
    outcomes, feed = asyncio.run(main_async(args))
    checks = report(outcomes, args) if outcomes else []
    if feed is not None:
        checks += report_feed(feed, args)
    return verdict(checks)


if __name__ == "__main__":
    raise SystemExit(main())
