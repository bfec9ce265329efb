"""ICS feed and import: how long and how big (issue 13).

Run: `python bench/ics.py [--series 10] [--slots 500] [--events 10000] [--rounds 3]`

Feed: an agent with `--series` daily series and `--slots` single slots in the
feed's window (7 days back, 60 ahead), in a file calendar; the time to build
the feed (range list + series list + ICS) over the real server
(`GET /calendar/ics/{agent}`, loopback) and in-process, and its size.
Import: a file of `--events` single events made on the fly, the time to read
it (bounded memory) and to write it in one transaction, first into an empty
calendar and then again (every event found and unchanged).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bot.calendar.ics.export import Window, agent_feed
from bot.calendar.ics.plan import plan_import
from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.core.models import SeriesCreate, SlotCreate

ZONE = ZoneInfo("Europe/Berlin")
AGENT = "bench"


async def feed(folder: Path, series: int, slots: int, rounds: int) -> None:
    calendar = await EmbeddedCalendar.open(folder / "feed.db", timezone=ZONE)
    now = datetime.now(UTC)
    window = Window.around(now)
    start = (now - timedelta(days=3)).astimezone(ZONE).replace(tzinfo=None, second=0, microsecond=0)
    for n in range(series):
        wall = (start + timedelta(minutes=7 * n)).isoformat()
        await calendar.create_series(
            SeriesCreate(agent_id=AGENT, rrule="FREQ=DAILY", start=wall, title=f"series {n}")
        )
    span = (window.end - window.start).total_seconds()
    for n in range(slots):
        at = window.start + timedelta(seconds=span * (n + 0.5) / slots)
        await calendar.create_slot(
            SlotCreate(
                agent_id=AGENT,
                scheduled_at=at,
                title=f"slot {n}",
                prompt="Look at the queue and report." * 3,
                allow_past=True,
            )
        )
    listed = len(await calendar.list_range(AGENT, window.start, window.end))
    local: list[float] = []
    for _ in range(rounds):
        began = time.perf_counter()
        body = await agent_feed(calendar, AGENT, window, timezone=ZONE, stamp=now)
        local.append(time.perf_counter() - began)
    runner, port = await start_server(calendar, "127.0.0.1", 0)
    served: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(rounds):
                began = time.perf_counter()
                async with session.get(f"http://127.0.0.1:{port}/calendar/ics/{AGENT}") as resp:
                    served_body = await resp.read()
                served.append(time.perf_counter() - began)
    finally:
        await runner.cleanup()
        await calendar.close()
    print(
        f"feed: {series} series + {slots} slots ({listed} instances in the window): "
        f"built in {statistics.median(local) * 1000:.0f} ms (median of {rounds}), "
        f"served in {statistics.median(served) * 1000:.0f} ms; "
        f"{len(body) / 1024:.0f} KiB ({len(served_body) / 1024:.0f} KiB served)"
    )


def write_file(path: Path, events: int) -> None:
    base = datetime.now(UTC) + timedelta(days=1)
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n")
        for n in range(events):
            at = (base + timedelta(minutes=10 * n)).strftime("%Y%m%dT%H%M%SZ")
            file.write(
                f"BEGIN:VEVENT\r\nUID:bench-{n}@example\r\nDTSTAMP:20260101T000000Z\r\n"
                f"DTSTART:{at}\r\nDURATION:PT25M\r\nSUMMARY:imported {n}\r\n"
                f"DESCRIPTION:Event {n} from a calendar app.\r\nPRIORITY:5\r\nEND:VEVENT\r\n"
            )
        file.write("END:VCALENDAR\r\n")


async def imports(folder: Path, events: int) -> None:
    path = folder / "import.ics"
    write_file(path, events)
    calendar = await EmbeddedCalendar.open(folder / "import.db", timezone=ZONE)
    try:
        for label in ("first", "again"):
            began = time.perf_counter()
            plan = plan_import(path, AGENT, ZONE)
            read = time.perf_counter() - began
            outcome = await calendar.import_batch(AGENT, plan.series, plan.slots)
            total = time.perf_counter() - began
            print(
                f"import {label}: {events} events ({path.stat().st_size / 1024 / 1024:.1f} MiB): "
                f"read in {read:.2f} s, total {total:.2f} s "
                f"({outcome.created} new, {outcome.unchanged} unchanged, "
                f"{len(plan.refused)} refused)"
            )
    finally:
        await calendar.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--slots", type=int, default=500)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ics-") as tmp:
        await feed(Path(tmp), args.series, args.slots, args.rounds)
        await imports(Path(tmp), args.events)


if __name__ == "__main__":
    asyncio.run(main())
