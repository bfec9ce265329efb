"""Scale of the running bot: 1,000 agents on one process, idle and in a burst of 100 wakes.

Run: `python bench/scale.py [--agents 1000] [--idle-s 60] [--burst 100] [--profile
[--profile-out FILE]] [--spy FILE]`

The real `ModeratorBot` (discord.py's REST and gateway code, cogs, waker chain)
with the embedded calendar (`CALENDAR_URL=sqlite:///…`) and production settings
(`SYNC_INTERVAL_S=300`, `CHECK_INTERVAL_S=30`, precise timers) runs against the
fake Discord on 127.0.0.1, whose guild holds one bot account per agent. The
fake, the bot and this script share one process and one event loop, so the
figures are the whole process's: the bot's share is the difference to the
baseline measured before the bot was opened.

1. Start-up: `ModeratorBot.open` -> READY and the moderator started (its first
   sync of every agent), wall and CPU.
2. Idle: `--idle-s` seconds with nothing due: CPU seconds (getrusage, all
   threads, aiosqlite's too), RSS (VmRSS) and the event loop's lag; plus one
   `sync_all()` of every agent with nothing changed (what the sync loop costs
   every 5 minutes).
3. Burst: `--burst` slots, one each for as many agents, all due at the same
   instant (a whole second); agents answer `DONE` at once. Wake latency
   (`scheduled_at` -> the wake message accepted by the fake) p50/p99/max, the
   wake categories used (Discord allows 50 channels per category, 500 per guild;
   the fake enforces both), Discord REST calls per wake, and a breakdown of
   where the time goes (claim in the calendar, claim -> channel request,
   posting). The DESIGN target is p99 <= 0.5 s at 2 REST calls per wake.
4. The channel waker alone (run before the burst): `--burst` wakes handed to the bot's
   `PrivateChannelWaker` at the same instant (no calendar, no claim: its ledger
   is the bot's state store), p50/p99 of each wake and Discord REST calls per
   wake: the Discord side's share of the burst.

`--profile` runs the idle window and the burst under cProfile and prints where
the main thread's time goes, by area and by function (cProfile's clock is wall
time: the loop waiting in `epoll` is shown apart; latencies are then inflated).

The fake applies no rate limits (every answer says 49 of 50 remain), so the
burst's latency is the bot's own; the script prints what Discord's documented
global limit (50 requests/s per bot) would add to the measured number of calls.

Measured (`--idle-s 2`, 2 CPUs shared with other test runs; main before this
change and after it run alternately, load 1.0-1.3): burst wake latency p50
260-277 ms -> 126-133 ms, p99 557-585 ms -> 219-230 ms; CPU while waking (all
threads, the fake's included) 6.1-6.4 -> 2.3-2.4 ms per wake; 2.02 Discord REST
calls per wake both. Under load 2.5-3.6 the p99 after ranged 0.28-0.58 s (the
process gets a share of a core; the CPU per wake is the steadier figure). What
did it: the calendar's writes go through a group commit, each transaction one
trip to its connection's thread (`bot.calendar.store.group_commit`,
`in_thread`); the fake checks good bodies with jsonschema-rs (its Python walk
was ~2 ms a body); at most 16 channel creations in flight (beyond ~25 discord.py
sleeps out the bucket's 1 s reset: every wake stalled 1 s); the start-up heap
is frozen (`bot.discord_io.wake_pauses`: full GC passes held the loop 60-130 ms,
now the longest is ~4 ms, printed as "garbage collection while waking").
`--spy FILE` samples the burst with py-spy (the GIL holder) for a closer look.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import math
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import midday_zone
from bench._discord import (
    LoopLag,
    Spread,
    WakeStages,
    WakeWatcher,
    WallClock,
    add_fake_options,
    bench_settings,
    cpu_s,
    peak_rss_mb,
    route_counts,
    rss_mb,
    run_bench,
    running_moderator,
    wait_finished,
    wake_categories,
)
from bot.calendar.store import EmbeddedCalendar
from bot.core.models import Slot, SlotCreate
from bot.discord_io.client import ModeratorBot
from testkit.fakediscord import FakeDiscord

#: Discord's documented global rate limit for a bot (requests per second).
DISCORD_GLOBAL_RPS = 50
#: The burst's slots fall due at least this long after they are made and synced.
BURST_LEAD_S = 3.0
BURST_TIMEOUT_S = 300.0


@dataclass
class Figures:
    agents: int
    fake_build_s: float = 0.0
    base_rss: float = 0.0
    start_wall: float = 0.0
    start_cpu: float = 0.0
    rss_started: float = 0.0
    idle_s: float = 0.0
    idle_cpu: float = 0.0
    idle_rss: float = 0.0
    idle_lag: list[float] = field(default_factory=list)
    idle_requests: int = 0
    tasks: int = 0
    sync_wall: float = 0.0
    sync_cpu: float = 0.0
    burst: int = 0
    woken: int = 0
    finished: int = 0
    repeats: int = 0
    stages: WakeStages = field(default_factory=WakeStages)
    channel_rate: float = 0.0
    categories: dict[str, int] = field(default_factory=dict)
    wake_routes: dict[str, int] = field(default_factory=dict)
    direct: list[float] = field(default_factory=list)
    direct_ok: int = 0
    direct_cpu: float = 0.0
    direct_routes: dict[str, int] = field(default_factory=dict)
    end_routes: dict[str, int] = field(default_factory=dict)
    burst_wall: float = 0.0
    burst_cpu: float = 0.0
    burst_lag: list[float] = field(default_factory=list)
    burst_gc: list[float] = field(default_factory=list)
    peak_rss: float = 0.0
    profile: pstats.Stats | None = None
    idle_profile: pstats.Stats | None = None


async def run(args: argparse.Namespace) -> Figures:
    names = [f"agent{i:04d}" for i in range(args.agents)]
    fig = Figures(agents=args.agents)
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        folder = Path(tmp)
        zone_name = midday_zone(datetime.now(UTC)).key
        began = time.perf_counter()
        fake = FakeDiscord(agents=tuple(names), spec_path=args.spec)
        await fake.start()
        fig.fake_build_s = time.perf_counter() - began
        fig.base_rss = rss_mb()
        try:
            settings = bench_settings(fake, folder, timezone=zone_name)
            began, cpu0 = time.perf_counter(), cpu_s()
            async with running_moderator(fake, settings, names) as bot:
                fig.start_wall = time.perf_counter() - began
                fig.start_cpu = cpu_s() - cpu0
                fig.rss_started = rss_mb()
                print(f"  started in {fig.start_wall:.1f} s; idle for {args.idle_s:g} s ...")
                await idle(fig, fake, args.idle_s, args.profile)
                cpu0, began = cpu_s(), time.perf_counter()
                failed = await bot.moderator.sync_all()
                fig.sync_wall, fig.sync_cpu = time.perf_counter() - began, cpu_s() - cpu0
                if failed:
                    print(f"warning: {failed} agent(s) failed to sync")
                calendar = bot.calendar
                assert isinstance(calendar, EmbeddedCalendar)
                print(f"  {args.burst} wakes through the channel waker alone ...")
                await waker_burst(fig, fake, bot, names[: args.burst])
                print(f"  burst of {args.burst} wakes ...")
                await burst(fig, fake, bot, calendar, names[: args.burst], args.profile, args.spy)
                fig.categories = wake_categories(fake, settings.wake_category)
        finally:
            await fake.stop()
    fig.peak_rss = peak_rss_mb()
    return fig


async def idle(fig: Figures, fake: FakeDiscord, idle_s: float, profile: bool) -> None:
    lag = LoopLag(period_s=0.25).start()  # seldom: the probe must not be the idle load
    profiler = cProfile.Profile() if profile else None
    cpu0, t0 = cpu_s(), time.monotonic()
    if profiler is not None:
        profiler.enable()
    await asyncio.sleep(idle_s)
    if profiler is not None:
        profiler.disable()
        fig.idle_profile = pstats.Stats(profiler)
    fig.idle_cpu, fig.idle_s = cpu_s() - cpu0, time.monotonic() - t0
    fig.idle_lag = await lag.stop()
    fig.idle_rss = rss_mb()
    fig.idle_requests = sum(route_counts(fake.requests, t0, time.monotonic()).values())
    fig.tasks = len(asyncio.all_tasks())


async def burst(
    fig: Figures,
    fake: FakeDiscord,
    bot: ModeratorBot,
    calendar: EmbeddedCalendar,
    agents: list[str],
    profile: bool,
    spy_out: str | None = None,
) -> None:
    fig.burst = len(agents)
    clock = WallClock()
    # The agents work a while: no reply until every wake is out, so the channels stay.
    # Only what comes after: the channel waker's own stage posted wake messages before.
    watcher = WakeWatcher(fake, reply=None, _scanned=len(fake.requests)).start()
    try:
        # A whole second far enough ahead for making and syncing the slots.
        at = datetime.now(UTC) + timedelta(seconds=BURST_LEAD_S + len(agents) * 0.01)
        at = at.replace(microsecond=0) + timedelta(seconds=1)
        ids: list[str] = []
        for agent in agents:
            slot = await calendar.create_slot(
                SlotCreate(
                    agent_id=agent, scheduled_at=at, title="Burst slot", prompt="Reply DONE."
                )
            )
            watcher.owners[slot.id] = agent
            ids.append(slot.id)
        await asyncio.gather(*(bot.moderator.sync(agent) for agent in agents))
        left = (at - datetime.now(UTC)).total_seconds()
        if left < 0.5:
            print(f"warning: the burst slots were synced only {left:.2f} s before they were due")
        spy = _start_spy(spy_out) if spy_out else None
        await asyncio.sleep(max(0.0, left - 0.3))
        profiler = cProfile.Profile() if profile else None
        lag = LoopLag().start()
        gc_pauses = GcPauses().start()
        t0, cpu0 = time.monotonic(), cpu_s()
        if profiler is not None:
            profiler.enable()
        await watcher.wait_for(ids, timeout=BURST_TIMEOUT_S)
        if profiler is not None:
            profiler.disable()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            await asyncio.to_thread(spy.wait)
        t_woken = time.monotonic()
        fig.burst_wall = t_woken - t0
        fig.burst_cpu = cpu_s() - cpu0
        fig.burst_lag = await lag.stop()
        fig.burst_gc = gc_pauses.stop()
        # Now the agents are done: each answers DONE in its channel, all at once.
        for wake in list(watcher.wakes.values()):
            await fake.inject_message(wake.channel_id, fake.agents[wake.agent], "DONE")
        fig.finished = await wait_finished(calendar, ids, timeout_s=30)
        t_end = time.monotonic()
    finally:
        await watcher.stop()
    fig.woken = len(watcher.wakes)
    fig.repeats = len(watcher.repeats)
    if profiler is not None:
        fig.profile = pstats.Stats(profiler)
    channel_ts: list[float] = []
    for wake in watcher.wakes.values():
        if await fig.stages.add(wake, at, calendar, clock):
            assert wake.channel_request_t is not None
            channel_ts.append(wake.channel_request_t)
    if len(channel_ts) > 1:
        fig.channel_rate = (len(channel_ts) - 1) / (max(channel_ts) - min(channel_ts))
    fig.wake_routes = route_counts(fake.requests, t0 - 1.0, t_woken)
    fig.end_routes = route_counts(fake.requests, t_woken + 1e-9, t_end)


def _start_spy(out: str) -> subprocess.Popen[bytes]:
    """py-spy on this process for the burst's window: the thread holding the GIL, sampled."""
    command = ["py-spy", "record", "--pid", str(os.getpid()), "--rate", "1000", "--gil"]
    command += ["--threads", "--format", "raw", "--output", out]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class GcPauses:
    """How long the garbage collector held the process, pass by pass (its own callbacks)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._began = 0.0

    def _seen(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._began)

    def start(self) -> GcPauses:
        gc.callbacks.append(self._seen)
        return self

    def stop(self) -> list[float]:
        gc.callbacks.remove(self._seen)
        return self.pauses


async def waker_burst(fig: Figures, fake: FakeDiscord, bot: ModeratorBot, names: list[str]) -> None:
    """Wakes handed to the channel waker all at once: its own latency and calls per wake."""
    waker = bot.channel_waker
    assert waker is not None, "the bench bot has no Discord waker"
    agents = {a.id: a for a in bot.agents}
    now = datetime.now(UTC)
    slots = [
        Slot(
            id=f"bench-direct-{i:04d}",
            agent_id=name,
            scheduled_at=now,
            title="Direct wake",
            prompt="Reply DONE.",
            updated_at=now,
        )
        for i, name in enumerate(names)
    ]

    async def one(slot: Slot) -> bool:
        began = time.monotonic()
        result = await waker.wake(agents[slot.agent_id], slot, slot.prompt)
        fig.direct.append(time.monotonic() - began)
        return result.ok

    t0, cpu0 = time.monotonic(), cpu_s()
    oks = await asyncio.gather(*(one(slot) for slot in slots))
    fig.direct_cpu = cpu_s() - cpu0
    fig.direct_ok = sum(oks)
    fig.direct_routes = route_counts(fake.requests, t0, time.monotonic())


def _ms(value: float) -> str:
    if math.isnan(value):
        return f"{'-':>12}"
    return f"{value * 1000:9.1f} ms" if value < 10 else f"{value:9.2f} s "


def _spread_row(label: str, values: list[float]) -> str:
    s = Spread.of(values)
    return f"  {label:<40} {_ms(s.p50)} {_ms(s.p99)} {_ms(s.max)}"


AREAS = (
    ("loop waiting in epoll (idle)", ("'poll' of 'select.epoll'",)),
    ("bot/ cogs/ (the moderator)", ("/bot/", "/cogs/")),
    ("tests/fakediscord (the fake)", ("/testkit/fakediscord/",)),
    ("discord.py", ("/discord/",)),
    ("aiohttp / yarl / multidict", ("/aiohttp/", "/yarl/", "/multidict/")),
    ("aiosqlite / sqlite3", ("/aiosqlite/", "sqlite3")),
    ("jsonschema / referencing", ("/jsonschema", "/referencing/")),
    ("pydantic", ("/pydantic",)),
    ("asyncio / selectors", ("/asyncio/", "selectors")),
    ("json", ("/json/", "json.")),
    ("logging", ("/logging/",)),
)


def _area(filename: str, func: str) -> str:
    where = f"{filename} {func}"
    for label, marks in AREAS:
        if any(mark in where for mark in marks):
            return label
    return "other (stdlib, builtins)"


#: Entry points whose cumulative time (their callees included, overlapping) tells who works.
INSIDE = (
    ("the fake: REST handlers", "testkit/fakediscord/server.py", "_api"),
    ("the fake: gateway dispatch", "testkit/fakediscord/gateway.py", "dispatch"),
    ("the fake: gateway writer", "testkit/fakediscord/gateway.py", "write_loop"),
    ("discord.py: REST client", "discord/http.py", "request"),
    ("discord.py: gateway events in", "discord/gateway.py", "received_message"),
    ("bot: the checks (claim + wake)", "bot/core/", "run_check"),
    ("bot: the channel waker", "bot/discord_io/channel_waker.py", "wake"),
)


def print_profile(stats: pstats.Stats, what: str) -> None:
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    by_area: dict[str, float] = {}
    total = 0.0
    for (filename, _line, func), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_area[_area(filename, func)] = by_area.get(_area(filename, func), 0.0) + tottime
        total += tottime
    print()
    print(f"  cProfile of {what} (main thread, {total:.2f} s), own time by area:")
    for label, spent in sorted(by_area.items(), key=lambda kv: -kv[1]):
        print(f"    {label:<34} {spent:7.3f} s {100 * spent / total:5.1f} %")
    print("  time inside (callees included; these overlap):")
    for label, path, name in INSIDE:
        inside = sum(
            value[3]
            for (filename, _line, func), value in raw.items()
            if func == name and filename.endswith(path)
        )
        print(f"    {label:<34} {inside:7.3f} s {100 * inside / total:5.1f} %")
    print("  top functions by own time (waiting in epoll left out):")
    working = [kv for kv in raw.items() if _area(kv[0][0], kv[0][2]) != AREAS[0][0]]
    top = sorted(working, key=lambda kv: -kv[1][2])[:12]
    root = str(Path(__file__).resolve().parent.parent)
    for (filename, line, func), (_cc, calls, tottime, _ct, _callers) in top:
        short = filename.replace(root + "/", "")
        if "site-packages/" in short:
            short = short.split("site-packages/", 1)[1]
        print(f"    {tottime:7.3f} s {calls:8d} calls  {short}:{line} {func}")


def report(fig: Figures, args: argparse.Namespace) -> bool:
    print()
    print(
        f"Scale: {fig.agents} agents in one process, embedded calendar, fake Discord "
        f"({os.cpu_count()} CPU(s), Python {sys.version.split()[0]})"
    )
    print(f"  fake Discord with {fig.agents} agent accounts built in {fig.fake_build_s:.2f} s")
    print()
    print(f"  {'':<40} {'value':>14}")
    rows = [
        ("RSS before the bot (fake + imports)", f"{fig.base_rss:9.1f} MiB"),
        ("start-up: open -> READY + first sync", f"{fig.start_wall:9.2f} s"),
        ("start-up CPU", f"{fig.start_cpu:9.2f} s"),
        ("RSS after start-up", f"{fig.rss_started:9.1f} MiB"),
        (f"idle {fig.idle_s:.0f} s: CPU", f"{fig.idle_cpu:9.3f} s"),
        ("idle: CPU share of one core", f"{100 * fig.idle_cpu / max(fig.idle_s, 1e-9):9.2f} %"),
        ("idle: RSS at the end", f"{fig.idle_rss:9.1f} MiB"),
        ("idle: RSS of the bot (minus baseline)", f"{fig.idle_rss - fig.base_rss:9.1f} MiB"),
        ("idle: event-loop lag p99 / max", f"{_lag(fig.idle_lag)}"),
        ("idle: Discord REST calls", f"{fig.idle_requests:9d}"),
        ("asyncio tasks alive", f"{fig.tasks:9d}"),
        (f"sync_all() of {fig.agents} agents, unchanged", f"{fig.sync_wall:9.2f} s"),
        ("  its CPU (every SYNC_INTERVAL_S=300)", f"{fig.sync_cpu:9.2f} s"),
    ]
    for label, value in rows:
        print(f"  {label:<40} {value:>14}")
    print()
    print(f"  burst: {fig.burst} slots due at the same instant, one per agent")
    print(f"  {'':<40} {'p50':>12} {'p99':>12} {'max':>12}")
    print(_spread_row("wake latency (due -> message accepted)", fig.stages.latencies))
    print(_spread_row("  due -> claimed (calendar `start`)", fig.stages.to_claim))
    print(_spread_row("  claimed -> channel create request", fig.stages.claim_to_channel))
    print(_spread_row("  channel request -> message accepted", fig.stages.channel_to_message))
    woken_line = f"{fig.woken}/{fig.burst} woken, {fig.finished} finished, {fig.repeats} repeats"
    print(f"  {woken_line}; all woken within {fig.burst_wall:.2f} s of the due second")
    print(
        f"  CPU while waking: {fig.burst_cpu:.2f} s in {fig.burst_wall:.2f} s "
        f"({100 * fig.burst_cpu / max(fig.burst_wall, 1e-9):.0f} % of one core, "
        f"{1000 * fig.burst_cpu / max(fig.woken, 1):.1f} ms per wake, the fake's share "
        "included); "
        f"event-loop lag p99 / max {_lag(fig.burst_lag)}"
    )
    gc_total, gc_max = sum(fig.burst_gc), max(fig.burst_gc, default=0.0)
    print(
        f"  garbage collection while waking: {len(fig.burst_gc)} passes, "
        f"{gc_total * 1000:.0f} ms in all, the longest {gc_max * 1000:.1f} ms"
    )
    print(f"  channels created at {fig.channel_rate:.0f}/s (placed side by side)")
    cats = ", ".join(f"{name}: {count}" for name, count in sorted(fig.categories.items()))
    print(f"  wake categories used: {len(fig.categories)} ({cats}); caps 50/category, 500/guild")
    calls = sum(fig.wake_routes.values())
    per = calls / max(fig.woken, 1)
    print(f"  Discord REST calls while waking: {calls} ({per:.2f} per wake)")
    for route, count in fig.wake_routes.items():
        print(f"    {count:5d}  {route}")
    if fig.end_routes:
        ends = sum(fig.end_routes.values())
        per_end = ends / max(fig.finished, 1)
        print(f"  ... and for the DONE replies after: {ends} ({per_end:.2f} per slot)")
        for route, count in fig.end_routes.items():
            print(f"    {count:5d}  {route}")
    direct_calls = sum(fig.direct_routes.values())
    print()
    print(f"  the channel waker alone: {len(fig.direct)} wakes at once, {fig.direct_ok} woken")
    print(f"  {'':<40} {'p50':>12} {'p99':>12} {'max':>12}")
    print(_spread_row("wake (call -> channel + message)", fig.direct))
    print(
        f"  Discord REST calls: {direct_calls} "
        f"({direct_calls / max(fig.direct_ok, 1):.2f} per wake); CPU {fig.direct_cpu:.2f} s "
        f"({1000 * fig.direct_cpu / max(fig.direct_ok, 1):.1f} ms per wake, the fake's included)"
    )
    for route, count in fig.direct_routes.items():
        print(f"    {count:5d}  {route}")
    floor = calls / DISCORD_GLOBAL_RPS
    print(
        f"  rate limits: the fake applies none; at Discord's global {DISCORD_GLOBAL_RPS} "
        f"requests/s these {calls} calls need >= {floor:.1f} s"
    )
    print(f"  peak RSS of the process: {fig.peak_rss:.1f} MiB")
    if fig.idle_profile is not None:
        print_profile(fig.idle_profile, f"the idle {fig.idle_s:.0f} s")
    if fig.profile is not None:
        print_profile(fig.profile, "the burst")
        if args.profile_out:
            fig.profile.dump_stats(args.profile_out)
            print(f"  the burst's cProfile statistics saved to {args.profile_out}")
    ok = (
        fig.woken == fig.burst
        and fig.repeats == 0
        and fig.finished == fig.burst
        and fig.direct_ok == fig.burst
    )
    print()
    print(
        ("ok" if ok else "FAIL")
        + f": {fig.woken}/{fig.burst} woken exactly once, {fig.finished} finished"
        + ("" if not args.profile else " (latencies under cProfile)")
    )
    return ok


def _lag(lags: list[float]) -> str:
    if not lags:
        return "-"
    s = Spread.of(lags)
    return f"{s.p99 * 1000:.0f} / {s.max * 1000:.0f} ms"


async def main(args: argparse.Namespace) -> int:
    print(
        f"scale: {args.agents} agents, idle {args.idle_s:g} s, then {args.burst} wakes at once"
        + (" (profiled)" if args.profile else "")
    )
    fig = await run(args)
    return 0 if report(fig, args) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--idle-s", type=float, default=60.0, help="idle window (default 60)")
    parser.add_argument("--burst", type=int, default=100, help="slots due at once (default 100)")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the idle window and the burst"
    )
    parser.add_argument(
        "--profile-out", metavar="FILE", help="with --profile: save the burst's pstats here"
    )
    parser.add_argument(
        "--spy", metavar="FILE", help="sample the burst with py-spy (on PATH) into FILE (raw)"
    )
    add_fake_options(parser)
    args = parser.parse_args(argv)
    if args.agents < 1 or not 1 <= args.burst <= args.agents or args.idle_s < 0:
        parser.error("need --agents >= 1, 1 <= --burst <= --agents, --idle-s >= 0")
    return args


if __name__ == "__main__":
    run_bench(main, parse_args())
