"""Three moderators and two calendar servers on one PostgreSQL database (DESIGN §11).

Real processes throughout: two `calendar serve` with `CALENDAR_URL=postgresql://…`
and three headless `python -m bot`, each over its own HTTP calendar (one server or
the other) and its own state file, all waking through one spawn webhook. Many
slots are due at once, several per agent (one may be ONGOING per agent at a time,
so the next is claimed only after the agent finished the last): the test plays
the agents, finishing each slot it is woken for through either server (again
after a 503, as an agent would: under the burst a server's pool may be busy). Every
slot is woken exactly once (none twice, whichever moderator saw it first) and
none is lost: all end FINISHED.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

from bot.calendar.client import HttpCalendar
from bot.core.models import SlotCreate, SlotStatus
from testkit.bots import WAIT_S
from testkit.retries import quick_retry
from testkit.spawn import SPAWN_SECRET, SpawnReceiver
from tests.calendar.conftest import TZ
from tests.conftest import StartHeadless
from tests.e2e.harness import wait_until

AGENTS = [f"agent{i}" for i in range(10)]
SLOTS_PER_AGENT = 3
MODERATORS = 3
#: All the rounds together (three per agent, each after a check tick) on a loaded machine.
ALL_FINISHED_S = 4 * WAIT_S


async def test_three_moderators_wake_each_due_slot_once_and_lose_none(
    servers: list[str], receiver: SpawnReceiver, start_headless: StartHeadless
) -> None:
    calendar = HttpCalendar(servers[0], timezone=TZ, retry=quick_retry(timeout_s=30.0))
    try:
        due = datetime.now(UTC) - timedelta(minutes=1)
        made = {
            (
                await calendar.create_slot(
                    SlotCreate(scheduled_at=due, title=f"job {n}", prompt="p"), agent_id=agent
                )
            ).id
            for agent in AGENTS
            for n in range(SLOTS_PER_AGENT)
        }
    finally:
        await calendar.close()
    assert len(made) == len(AGENTS) * SLOTS_PER_AGENT

    urls = [servers[index % 2] for index in range(MODERATORS)]
    moderators = await start_headless(AGENTS, urls, TIMEZONE=TZ.key)

    finished: set[str] = set()
    async with aiohttp.ClientSession() as http:

        async def finish_what_was_woken() -> bool:
            """Play the agents: finish every slot woken so far (through either server)."""
            for n, body in enumerate(list(receiver.bodies)):
                slot_id = body["slot"]["id"]
                if slot_id in finished:
                    continue
                url = f"{servers[n % 2]}/calendar/slots/{slot_id}/complete"
                headers = {"X-Agent-Id": body["agent_id"]}
                async with http.post(url, headers=headers, json={"note": "done"}) as answer:
                    if answer.status == 503:  # a server's pool busy: an agent tries again
                        continue
                    assert answer.status == 200, await answer.text()
                finished.add(slot_id)
            return finished == made

        await wait_until(finish_what_was_woken, ALL_FINISHED_S, what="every due slot woken")

    for proc in moderators:
        proc.terminate()
    for proc in moderators:
        assert await proc.wait() == 0

    woken = [body["slot"]["id"] for body in receiver.bodies]
    assert sorted(woken) == sorted(made)  # each exactly once: none twice, none lost
    assert len(set(receiver.keys)) == len(made)
    calendar = HttpCalendar(servers[1], timezone=TZ, retry=quick_retry(timeout_s=30.0))
    try:
        for slot_id in made:
            assert (await calendar.get_slot(slot_id)).status is SlotStatus.FINISHED
    finally:
        await calendar.close()
    for proc in moderators:  # the servers' logs are checked by their fixture
        assert SPAWN_SECRET not in proc.log_text()
