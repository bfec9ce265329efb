"""Change propagation: a calendar write -> the change in the moderator's cache, and wake latency.

Run: `python bench/propagation.py [--agents 10] [--samples 200] [--other-samples 40]`

A real `Moderator` (system clock, its periodic sync at `SYNC_INTERVAL_S=300`, so
only the news of a change can explain a fast figure) follows an embedded
calendar on a temporary file, as `build_moderator` wires it (DESIGN §4.1). Each
sample edits one slot's prompt and times, on the wall clock, from just before
the write to the moment the new version is in the agent's cache:

* `same store`: the write goes through the moderator's own store (`calendar add`
  in-process, a slash command);
* `REST`: the write goes through the real calendar server on 127.0.0.1 over
  that same store, by the HTTP client (an agent's `PATCH`);
* `other process`: the write goes through a second `EmbeddedCalendar` on the
  same file (another process' connection); the moderator's store sees it by
  polling `PRAGMA data_version` every 0.5 s, so this path is bounded by the poll
  (each write waits a random part of the poll first, as unrelated writes would).

Then `wake`: slots created 5 s before they are due (one per agent) are woken
by the precise timer; the figure is wake time - `scheduled_at`.

Percentiles are nearest-rank. Target: p99 <= 1 s for each path on loopback.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.calendar.client import HttpCalendar
from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.calendar.store.notify import POLL_INTERVAL_S
from bot.core.agents import AgentConfig
from bot.core.clock import SystemClock
from bot.core.models import Slot, SlotCreate, SlotEdit
from bot.core.moderator import Moderator
from bot.core.state import StateStore
from testkit.wakers import RecordingWaker

TARGET_P99_S = 1.0
SYNC_INTERVAL_S = 300.0
LEAD_S = 5.0
UTC = ZoneInfo("UTC")

Edit = Callable[[str, SlotEdit], Awaitable[Slot]]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def seen_in_cache(moderator: Moderator, slot: Slot, version: int) -> None:
    cache = moderator.scheduler(slot.agent_id).cache
    while True:
        held = cache.get(slot.id)
        if held is not None and held.version >= version:
            return
        await asyncio.sleep(0.0005)


async def propagation(
    moderator: Moderator, slots: list[Slot], edit: Edit, samples: int, *, jitter_s: float = 0.0
) -> list[float]:
    """`jitter_s`: a random pause before each write, so writes do not lock on to the poll."""
    latencies: list[float] = []
    versions = {slot.id: slot.version for slot in slots}
    for n in range(samples):
        slot = slots[n % len(slots)]
        if jitter_s:
            await asyncio.sleep(random.uniform(0, jitter_s))
        started = time.perf_counter()
        answer = await edit(slot.id, SlotEdit(prompt=f"prompt {n}"))
        await asyncio.wait_for(seen_in_cache(moderator, slot, answer.version), timeout=30)
        latencies.append(time.perf_counter() - started)
        versions[slot.id] = answer.version
    return latencies


async def wake_latency(
    moderator: Moderator, calendar: EmbeddedCalendar, waker: RecordingWaker, agents: list[str]
) -> list[float]:
    clock = SystemClock()
    due = {}
    for n, agent_id in enumerate(agents):
        at = clock.now() + timedelta(seconds=LEAD_S + n * 0.05)
        slot = await calendar.create_slot(
            SlotCreate(agent_id=agent_id, scheduled_at=at, title="soon", prompt="go")
        )
        due[slot.id] = at
    all_woken = asyncio.Event()

    async def on_wake(agent: AgentConfig, slot: Slot) -> None:
        if all(sid in waker.world.channels for sid in due):
            all_woken.set()

    waker.on_wake = on_wake
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_woken.wait(), timeout=LEAD_S + 30)
    times = waker.world.times()
    missing = [sid for sid in due if sid not in times]
    if missing:
        print(f"  {len(missing)} slot(s) never woken")
        return [math.inf] * len(missing)
    return [(times[sid] - at).total_seconds() for sid, at in due.items()]


def report(name: str, values: list[float]) -> bool:
    p50, p99 = percentile(values, 50), percentile(values, 99)
    ok = p99 <= TARGET_P99_S
    print(
        f"{name:<16} n={len(values):<4} p50={p50 * 1000:8.1f} ms  p99={p99 * 1000:8.1f} ms  "
        f"max={max(values) * 1000:8.1f} ms  {'ok' if ok else 'MISSED'}"
    )
    return ok


async def main(args: argparse.Namespace) -> int:
    clock = SystemClock()
    ids = [f"agent-{n:02d}" for n in range(args.agents)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calendar.db"
        calendar = await EmbeddedCalendar.open(path, timezone=UTC, clock=clock)
        other = await EmbeddedCalendar.open(path, timezone=UTC, clock=clock)
        state = await StateStore.open(Path(tmp) / "state.db", clock=clock)
        waker = RecordingWaker(clock)
        moderator = Moderator(
            [AgentConfig(id=agent_id, discord_user_id=1000 + n) for n, agent_id in enumerate(ids)],
            calendar,
            state,
            waker,
            clock,
            timezone=UTC,
            changes=calendar.changes,
        )
        runner, port = await start_server(calendar, "127.0.0.1", 0)
        client = HttpCalendar(f"http://127.0.0.1:{port}", timezone=UTC)
        try:
            later = clock.now() + timedelta(hours=6)
            slots = [
                await calendar.create_slot(
                    SlotCreate(agent_id=agent_id, scheduled_at=later, title="t", prompt="p")
                )
                for agent_id in ids
            ]
            await moderator.start()
            moderator.start_loops(SYNC_INTERVAL_S)
            ok = True
            print(f"{args.agents} agents, SYNC_INTERVAL_S={SYNC_INTERVAL_S:g}, target p99 <= 1 s")
            ok &= report(
                "same store", await propagation(moderator, slots, calendar.edit_slot, args.samples)
            )
            rest = await propagation(moderator, slots, client.edit_slot, args.samples)
            ok &= report("REST", rest)
            ok &= report(
                "other process",
                await propagation(
                    moderator, slots, other.edit_slot, args.other_samples, jitter_s=POLL_INTERVAL_S
                ),
            )
            ok &= report("wake (5 s lead)", await wake_latency(moderator, calendar, waker, ids))
            return 0 if ok else 1
        finally:
            await moderator.stop()
            await client.close()
            await runner.cleanup()
            await state.close()
            await other.close()
            await calendar.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--other-samples", type=int, default=40)
    logging.basicConfig(level=logging.WARNING)
    sys.exit(asyncio.run(main(parser.parse_args())))
