"""Claims per second with three moderators on one store: SQLite beside PostgreSQL (DESIGN §11).

Run: `python bench/store_claims.py [--slots 600] [--racers 3] [--calendar-url postgresql://…]`

`--slots` slots of as many agents are due at once; `--racers` stores on one
database (each with its own connection or pool, as separate moderators have)
each try to claim every slot, in their own order, with `expected_version`. The
figures: claims won per second (wall clock), the requests answered 409 and
the time of the slowest claim. Correctness is checked, not timed: every slot
is claimed exactly once (exit 1 otherwise).

SQLite runs on a temporary file. PostgreSQL runs on `--calendar-url` when given,
else on a throw-away cluster (`testkit.postgres`) when the server binaries exist;
else only SQLite is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import TransitionConflict
from bot.core.clock import FakeClock
from bot.core.models import Action, Slot, SlotCreate

TZ = ZoneInfo("UTC")
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
Opener = Callable[[FakeClock], Awaitable[EmbeddedCalendar]]


async def _race(open_store: Opener, slots: int, racers: int) -> tuple[float, int, float, bool]:
    clock = FakeClock(start=START)
    stores = [await open_store(clock) for _ in range(racers)]
    try:
        made: list[Slot] = []
        for i in range(slots):
            body = SlotCreate(scheduled_at=START, title="t", prompt="p")
            made.append(await stores[0].create_slot(body, agent_id=f"agent{i}"))
        await clock.advance(60)
        won: dict[str, int] = {}
        refused = 0
        slowest = 0.0

        async def racer(store: EmbeddedCalendar, seed: int) -> None:
            nonlocal refused, slowest
            order = list(made)
            random.Random(seed).shuffle(order)
            for slot in order:
                began = time.perf_counter()
                try:
                    await store.transition(slot.id, Action.START, expected_version=slot.version)
                    won[slot.id] = won.get(slot.id, 0) + 1
                except TransitionConflict:
                    refused += 1
                slowest = max(slowest, time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(racer(store, n) for n, store in enumerate(stores)))
        elapsed = time.perf_counter() - began
        correct = len(won) == slots and all(count == 1 for count in won.values())
        return slots / elapsed, refused, slowest, correct
    finally:
        for store in stores:
            await store.close()


def _report(name: str, result: tuple[float, int, float, bool]) -> bool:
    rate, refused, slowest, correct = result
    verdict = "each claimed once" if correct else "WRONG: a slot claimed twice or never"
    print(
        f"{name:<11} {rate:8.0f} claims/s   {refused:6d} answered 409   "
        f"slowest claim {slowest * 1000:7.1f} ms   {verdict}"
    )
    return correct


async def main(args: argparse.Namespace) -> int:
    print(f"{args.slots} due slots, {args.racers} moderators racing for each")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "calendar.db"

        async def sqlite(clock: FakeClock) -> EmbeddedCalendar:
            return await EmbeddedCalendar.open(path, timezone=TZ, clock=clock)

        ok = _report("sqlite", await _race(sqlite, args.slots, args.racers))
    url, cluster = args.calendar_url, None
    if url is None:
        from testkit.postgres import find_binaries, start_cluster

        if find_binaries() is None:
            print("postgresql  (not measured: no server binaries and no --calendar-url)")
            return 0 if ok else 1
        cluster = start_cluster()
        url = cluster.url(cluster.new_database())
    from bot.calendar.pg.calendar import PgCalendar

    async def postgres(clock: FakeClock) -> EmbeddedCalendar:
        return await PgCalendar.open_url(url, timezone=TZ, clock=clock)

    try:
        ok = _report("postgresql", await _race(postgres, args.slots, args.racers)) and ok
    finally:
        if cluster is not None:
            cluster.remove()
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=600)
    parser.add_argument("--racers", type=int, default=3)
    parser.add_argument(
        "--calendar-url", help="an empty PostgreSQL database to measure on (slots are added to it)"
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
