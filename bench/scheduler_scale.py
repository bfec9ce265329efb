"""Scale of the scheduling core: 1,000 agents x 50 slots in one process.

Run: `python bench/scheduler_scale.py [--agents 1000] [--slots 50] [--backend postgres]`

`--backend postgres` keeps the calendar in PostgreSQL (`--calendar-url` of an
empty database, else a throw-away cluster from `testkit.postgres`); the state
stays a SQLite file, as in production.

An embedded calendar file in a temporary folder holds the slots; one
`Moderator` with the production timers schedules every agent, time is a
`FakeClock` (so the figures are CPU cost, not waiting). Measured:

* one safety-net check tick over all agents (nothing due; and every agent busy),
* one agent's sync merge (ScheduleCache.merge of its 50-slot day),
* `next_due_at()`,
* peak RSS of the process,

and, for information, the set-up, the start (first sync of everyone + timers)
and a tick in which every agent has a slot due (a claim and a wake each).
Targets (2-core machine): tick <= 20 ms, merge <= 1 ms, RSS <= 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.cache import ScheduleCache
from bot.core.clock import FakeClock
from bot.core.models import DaySchedule, SlotCreate
from bot.core.moderator import Moderator
from bot.core.state import StateStore
from testkit.wakers import RecordingWaker

DAY_START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return raw / (1024 * 1024) if sys.platform == "darwin" else raw / 1024


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


async def atimed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()  # type: ignore[misc]
        out.append(time.perf_counter() - t0)
    return out


async def populate(cal: EmbeddedCalendar, agents: int, slots: int) -> None:
    """Several agents at once: PostgreSQL's round trips overlap (its writes stay serialised)."""
    rng = random.Random(7)
    spacing = (24 * 60 - 40) / slots
    for first in range(0, agents, 8):
        await asyncio.gather(
            *(
                populate_agent(cal, a, slots, spacing, rng.randint(0, 1 << 30))
                for a in range(first, min(first + 8, agents))
            )
        )


async def populate_agent(
    cal: EmbeddedCalendar, a: int, slots: int, spacing: float, seed: int
) -> None:
    rng = random.Random(seed)
    agent_id = f"agent{a:04d}"
    for k in range(slots):
        at = DAY_START + timedelta(minutes=10 + k * spacing + (a % 17))
        await cal.create_slot(
            SlotCreate(
                agent_id=agent_id,
                scheduled_at=at,
                priority=rng.randint(0, 100),
                title=f"task {k}",
                prompt="do the work",
                estimated_duration_min=600,
            )
        )


async def open_calendar(
    folder: str, clock: FakeClock, calendar_url: str | None
) -> EmbeddedCalendar:
    if calendar_url is None:
        return await EmbeddedCalendar.open(
            Path(folder) / "calendar.db", timezone=UTC_ZONE, clock=clock
        )
    from bot.calendar.pg.calendar import PgCalendar

    return await PgCalendar.open_url(calendar_url, timezone=UTC_ZONE, clock=clock)


async def run(
    agents: int, slots: int, repeat: int, calendar_url: str | None = None
) -> list[tuple[str, str, str, bool | None]]:
    logging.basicConfig(level=logging.WARNING)
    rows: list[tuple[str, str, str, bool | None]] = []
    with tempfile.TemporaryDirectory() as folder:
        clock = FakeClock(DAY_START)
        cal = await open_calendar(folder, clock, calendar_url)
        state = await StateStore.open(Path(folder) / "state.db", clock=clock)
        t0 = time.perf_counter()
        await populate(cal, agents, slots)
        rows.append(("set-up: create slots", f"{time.perf_counter() - t0:.1f} s", "", None))

        configs = [AgentConfig(id=f"agent{a:04d}") for a in range(agents)]
        moderator = Moderator(
            configs,
            cal,
            state,
            RecordingWaker(clock, name="null"),  # wakes instantly: the core is measured
            clock,
            timezone=UTC_ZONE,
            check_interval_s=30,
            wake_template="{title}: {prompt}",
        )
        t0 = time.perf_counter()
        await moderator.start()
        rows.append(("start: sync all + arm timers", f"{time.perf_counter() - t0:.2f} s", "", None))

        # ---- one check tick over all agents, nothing due ----------------------
        ticks = await atimed(lambda: moderator.check_all(), repeat)
        tick_ms = statistics.median(ticks) * 1000
        rows.append(
            (
                f"check tick, {agents} agents idle, nothing due (median)",
                f"{tick_ms:.2f} ms",
                "<= 20 ms",
                tick_ms <= 20,
            )
        )
        rows.append(("  same, worst of the runs", f"{max(ticks) * 1000:.2f} ms", "", None))

        # ---- next_due_at ----------------------------------------------------------
        sample = moderator.scheduler(configs[agents // 2].id).cache
        calls = 100_000
        t0 = time.perf_counter()
        for _ in range(calls):
            sample.next_due_at(after=DAY_START)
        per_call_us = (time.perf_counter() - t0) / calls * 1e6
        rows.append(("next_due_at() per call", f"{per_call_us:.2f} µs", "", None))

        # ---- one agent's sync merge ---------------------------------------------------
        day = await cal.get_day(configs[0].id, DAY_START.date())
        assert day.schedule is not None
        schedule = day.schedule

        def bumped(round_: int) -> DaySchedule:
            # 5 of the 50 slots changed since the last sync, as a busy day would have
            return DaySchedule(
                date=schedule.date,
                agent_id=schedule.agent_id,
                timezone=schedule.timezone,
                slots=[
                    s.model_copy(update={"version": s.version + round_, "priority": round_ % 100})
                    if (i + round_) % 10 == 0
                    else s
                    for i, s in enumerate(schedule.slots)
                ],
            )

        def fresh_merge() -> None:
            ScheduleCache(configs[0].id, UTC_ZONE, day=schedule.date).merge(schedule)

        rounds = [bumped(n) for n in range(1, 201)]
        warm = ScheduleCache(configs[0].id, UTC_ZONE, day=schedule.date)
        warm.merge(schedule)
        feed = iter(rounds)

        def steady_merge() -> None:
            warm.merge(next(feed))

        first = statistics.median(timed(fresh_merge, 200)) * 1000
        steady = statistics.median(timed(steady_merge, 200)) * 1000
        rows.append(
            (
                f"sync merge, one agent, {slots} slots, 5 changed (median)",
                f"{steady:.3f} ms",
                "<= 1 ms",
                steady <= 1,
            )
        )
        rows.append(
            (
                f"sync merge into an empty cache, {slots} created",
                f"{first:.3f} ms",
                "<= 1 ms",
                first <= 1,
            )
        )
        one_sync = statistics.median(await atimed(lambda: moderator.sync(configs[1].id), 20))
        rows.append(
            (
                "one agent's whole sync (calendar I/O + heartbeat)",
                f"{one_sync * 1000:.2f} ms",
                "",
                None,
            )
        )

        # ---- a tick where every agent has a slot due: claim + wake each --------------
        clock.jump(30 * 60)  # 00:30, every agent's first slot is due; timers stay parked
        t0 = time.perf_counter()
        await moderator.check_all()
        wake_all = time.perf_counter() - t0
        busy = sum(1 for s in moderator.statuses() if s.busy)
        rows.append(
            (
                f"tick that claims and wakes {busy} agents",
                f"{wake_all:.2f} s ({wake_all / max(busy, 1) * 1000:.2f} ms/agent)",
                "",
                None,
            )
        )
        ticks = await atimed(lambda: moderator.check_all(), repeat)
        busy_ms = statistics.median(ticks) * 1000
        rows.append(
            (
                f"check tick, {agents} agents busy (median)",
                f"{busy_ms:.2f} ms",
                "<= 20 ms",
                busy_ms <= 20,
            )
        )
        rss = peak_rss_mb()
        rss_target = 300 if agents > 1000 else 200  # issue 15: 10,000 x 20 in 300 MB
        rows.append(("peak RSS", f"{rss:.0f} MB", f"<= {rss_target} MB", rss <= rss_target))
        await moderator.stop()
        await state.close()
        await cal.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=30, help="runs of each timed tick")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--calendar-url", help="an empty PostgreSQL database (--backend postgres)")
    args = parser.parse_args()
    url, cluster = args.calendar_url, None
    if args.backend == "postgres" and url is None:
        from testkit.postgres import start_cluster

        cluster = start_cluster()
        url = cluster.url(cluster.new_database())
    try:
        rows = asyncio.run(run(args.agents, args.slots, args.repeat, url))
    finally:
        if cluster is not None:
            cluster.remove()
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    backend = args.backend if args.calendar_url is None else "postgres (--calendar-url)"
    print(f"\nscheduler scale: {args.agents} agents x {args.slots} slots on {backend}\n")
    print(f"{'measure':<{width}}  {'value':>{vwidth}}  {'target':<9}  ok")
    print("-" * (width + vwidth + 18))
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("yes" if ok else "MISSED")
        print(f"{name:<{width}}  {value:>{vwidth}}  {target:<9}  {verdict}")
    missed = [r[0] for r in rows if r[3] is False]
    if missed:
        print(f"\ntargets missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
