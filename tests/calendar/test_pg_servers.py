"""Two `calendar serve` processes on one PostgreSQL database, three clients racing (DESIGN §11).

Real processes, each with its own pool, started from the CLI with
`CALENDAR_URL=postgresql://…`: many slots are due at once and three clients
(moderators) claim each of them through either server; every slot is claimed
exactly once, none is lost, and a change made through one server is in the
other's change feed. The password is in neither server's log.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp

from bot.calendar.client import HttpCalendar
from bot.core.calendar import TransitionConflict
from bot.core.models import Action, SlotCreate, SlotStatus
from testkit.retries import quick_retry
from tests.calendar.conftest import TZ

SLOTS = 24
CLIENTS = 3


async def test_two_servers_three_clients_claim_each_due_slot_once(servers: list[str]) -> None:
    clients = [
        HttpCalendar(servers[i % 2], timezone=TZ, retry=quick_retry(timeout_s=30.0))
        for i in range(CLIENTS)
    ]
    try:
        due = datetime.now(UTC) - timedelta(minutes=1)
        made = [
            await clients[i % CLIENTS].create_slot(
                SlotCreate(scheduled_at=due, title="t", prompt="p"), agent_id=f"agent{i}"
            )
            for i in range(SLOTS)
        ]
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{servers[1]}/calendar/changes") as answer,
        ):
            cursor = (await answer.json())["cursor"]

        async def claim(client: HttpCalendar, slot_id: str, version: int) -> bool:
            try:
                await client.transition(slot_id, Action.START, expected_version=version)
            except TransitionConflict:
                return False
            return True

        won = await asyncio.gather(
            *(claim(client, slot.id, slot.version) for slot in made for client in clients)
        )
        per_slot = [won[i * CLIENTS : (i + 1) * CLIENTS].count(True) for i in range(SLOTS)]
        assert per_slot == [1] * SLOTS
        for slot in made:
            assert (await clients[0].get_slot(slot.id)).status is SlotStatus.ONGOING
        # Every claim, whichever server took it, is in the other server's feed after the cursor.
        seen: set[str] = set()
        async with aiohttp.ClientSession() as http:
            while len(seen) < SLOTS:
                url = f"{servers[1]}/calendar/changes?since={cursor}&wait=5"
                async with http.get(url) as answer:
                    page = await answer.json()
                assert not page["reset"] and page["changes"], page
                cursor = page["cursor"]
                seen |= {c["slot_id"] for c in page["changes"] if c["version"] >= 2}
        assert seen == {slot.id for slot in made}
    finally:
        for client in clients:
            await client.close()
