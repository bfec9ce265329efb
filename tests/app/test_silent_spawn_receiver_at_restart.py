"""A spawn receiver that accepts the connection and never answers, met again at a restart: the
unfinished wake goes out after the start-up, in its agent's own check, so the other agents
are synced and woken meanwhile, and a stop still ends the run within the budget.

From a review of headless mode: the restart settled the wake the first run left unfinished
inline in the start-up, which then waited out the webhook's every try (4 x 10 s, some 45 s)
before the other agents' first sync and before any timer was armed. Waits are for events
(a connection, a POST, a log line) with generous ceilings; the one timing claim is the
stop's upper bound.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.models import SlotStatus
from testkit.bots import WAIT_S
from testkit.processes import BotProcess, bot_env, due_slot, status_in_file
from testkit.silent import silent_server
from testkit.spawn import SpawnReceiver, serving_spawn_receiver
from tests.app.lifecycle_runs import STOP_CEILING_S, start, stop_time, until_status


def _agents_file(tmp_path: Path, silent_url: str, answering_url: str) -> None:
    (tmp_path / "agents.toml").write_text(
        f'[[agents]]\nid = "alice"\nspawn_url = "{silent_url}"\n\n'
        f'[[agents]]\nid = "bob"\nspawn_url = "{answering_url}"\n',
        encoding="utf-8",
    )


async def _posted_for(receiver: SpawnReceiver, slot_id: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not any(body["slot"]["id"] == slot_id for body in receiver.bodies):
            receiver.received.clear()
            await receiver.received.wait()


async def test_a_wake_hung_on_a_silent_receiver_at_restart_holds_up_no_other_agent(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    async with silent_server() as silent, serving_spawn_receiver() as bobs:
        env = bot_env(None, tmp_path, agents=("alice", "bob"))
        _agents_file(tmp_path, f"http://127.0.0.1:{silent.port}/wake", bobs.url)
        alices = await due_slot(tmp_path, "alice", "Behind a silent receiver")

        # The first run claims alice's slot and is stopped while her wake hangs.
        first = await start(env, tmp_path, processes)
        await silent.until_accepted(1)
        code, took = await stop_time(first)
        assert code == 0 and took < STOP_CEILING_S, first.log_text()[-2000:]
        assert await status_in_file(tmp_path, alices.id) is SlotStatus.ONGOING  # claimed

        # The restart finds the wake unfinished; bob has a slot due meanwhile.
        bobs_slot = await due_slot(tmp_path, "bob", "Bob's turn")
        second = await start(env, tmp_path, processes)
        await silent.until_accepted(2)  # alice's wake, tried again, hangs
        await _posted_for(bobs, bobs_slot.id)
        log = second.log_text()
        # Bob was woken while alice's wake was still in flight, not after its last try.
        assert f"could not wake for slot {alices.id}" not in log, log[-3000:]
        assert "failed 4 time(s)" not in log
        assert "moderator started" in log
        await until_status(tmp_path, bobs_slot.id, SlotStatus.ONGOING)

        code, took = await stop_time(second)
        log = second.log_text()
    assert took < STOP_CEILING_S, f"stopped after {took:.1f}s:\n{log[-3000:]}"
    assert code == 0, log[-3000:]
    assert "Traceback" not in log
    assert "was claimed before a restart" in log  # recovered, our claim still holds it
    assert await status_in_file(tmp_path, alices.id) is SlotStatus.ONGOING
