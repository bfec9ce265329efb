"""Change propagation with two calendar servers on one PostgreSQL database (DESIGN §4.1, §11).

Run: `python bench/pg_propagation.py [--agents 10] [--samples 200] [--calendar-url postgresql://…]`

Two calendar servers on 127.0.0.1, each over its own `PgCalendar` (its own pool
and LISTEN connection, as two `calendar serve` processes have), on one database
(`--calendar-url` of an empty database, else a throw-away cluster from
`testkit.postgres`). A real `Moderator` (system clock, periodic sync at 300 s, so
only the news of a change can explain a fast figure) follows the database; an
agent's `PATCH` goes through server A, and each sample times, on the wall clock,
from just before the write to the new version in the agent's cache:

* `A -> store B`: the moderator is embedded over server B's store and hears the
  change by B's LISTEN (the NOTIFY committed by A's transaction);
* `A -> feed of B`: the moderator follows server B through the HTTP client and
  its change feed (`/calendar/changes`, long-polled), as a remote moderator does.

Percentiles are nearest-rank (`bench/propagation.py`). Target: p99 <= 1 s for
each path on loopback. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.propagation import SYNC_INTERVAL_S, UTC, propagation, report
from bot.calendar.client import HttpCalendar
from bot.calendar.client.transport import CALENDAR_RETRY
from bot.calendar.pg.calendar import PgCalendar
from bot.calendar.server import start_server
from bot.core.agents import AgentConfig
from bot.core.calendar import Calendar, ChangeSource
from bot.core.clock import SystemClock
from bot.core.models import SlotCreate
from bot.core.moderator import Moderator
from bot.core.state import StateStore
from testkit.wakers import RecordingWaker


async def follow(
    calendar: Calendar, changes: ChangeSource, ids: list[str], folder: Path
) -> tuple[Moderator, StateStore]:
    """A started moderator over `calendar`, hearing of changes from `changes`."""
    clock = SystemClock()
    state = await StateStore.open(folder / "state.db", clock=clock)
    moderator = Moderator(
        [AgentConfig(id=agent_id, discord_user_id=1000 + n) for n, agent_id in enumerate(ids)],
        calendar,
        state,
        RecordingWaker(clock),
        clock,
        timezone=UTC,
        changes=changes,
    )
    await moderator.start()
    moderator.start_loops(SYNC_INTERVAL_S)
    return moderator, state


async def measure(url: str, agents: int, samples: int) -> bool:
    clock = SystemClock()
    ids = [f"agent-{n:02d}" for n in range(agents)]
    store_a = await PgCalendar.open_url(url, timezone=UTC, clock=clock)
    store_b = await PgCalendar.open_url(url, timezone=UTC, clock=clock)
    runner_a, port_a = await start_server(store_a, "127.0.0.1", 0)
    runner_b, port_b = await start_server(store_b, "127.0.0.1", 0)
    writer = HttpCalendar(
        f"http://127.0.0.1:{port_a}", timezone=UTC, retry=replace(CALENDAR_RETRY, timeout_s=10.0)
    )
    reader = HttpCalendar(
        f"http://127.0.0.1:{port_b}", timezone=UTC, retry=replace(CALENDAR_RETRY, timeout_s=10.0)
    )
    later = clock.now() + timedelta(hours=6)
    slots = [
        await writer.create_slot(
            SlotCreate(scheduled_at=later, title="t", prompt="p"), agent_id=agent_id
        )
        for agent_id in ids
    ]
    print(f"{agents} agents, SYNC_INTERVAL_S={SYNC_INTERVAL_S:g}, target p99 <= 1 s")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for name, calendar, changes in (
                ("A -> store B", store_b, store_b.changes),
                ("A -> feed of B", reader, reader),
            ):
                folder = Path(tmp) / name.replace(" ", "_").replace(">", "")
                folder.mkdir()
                moderator, state = await follow(calendar, changes, ids, folder)
                try:
                    ok &= report(
                        name, await propagation(moderator, slots, writer.edit_slot, samples)
                    )
                finally:
                    await moderator.stop()
                    await state.close()
        finally:
            await reader.close()
            await writer.close()
            await runner_b.cleanup()
            await runner_a.cleanup()
            await store_b.close()
            await store_a.close()
    return ok


async def main(args: argparse.Namespace) -> int:
    url, cluster = args.calendar_url, None
    if url is None:
        from testkit.postgres import start_cluster

        cluster = start_cluster()
        url = cluster.url(cluster.new_database())
    try:
        return 0 if await measure(url, args.agents, args.samples) else 1
    finally:
        if cluster is not None:
            cluster.remove()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--calendar-url", help="an empty PostgreSQL database (slots are added)")
    logging.basicConfig(level=logging.WARNING)
    sys.exit(asyncio.run(main(parser.parse_args())))
