"""`python -m bot` as a real subprocess: restarts, signals, headless mode, exit codes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.core.models import SlotStatus
from bot.wakers.spawn import wake_id_for
from testkit.fakediscord import FakeDiscord
from tests.e2e.harness import (
    SPAWN_SECRET,
    BotProcess,
    SpawnReceiver,
    bot_env,
    due_slot,
    free_port,
    slot_channels,
    status_in_file,
    wait_until,
)

StartBot = Callable[..., Awaitable[BotProcess]]


async def test_sigkill_mid_slot_then_restart_keeps_one_channel_and_the_old_channel_works(
    fake_discord: FakeDiscord, tmp_path: Path, bot_processes: StartBot
) -> None:
    fake = fake_discord
    slot_id = (await due_slot(tmp_path, "alice", "Survive a crash")).id
    env = bot_env(fake, tmp_path)

    first = await bot_processes(env, tmp_path)
    await fake.wait_for(
        lambda: any(fake.messages_in(c) for c in slot_channels(fake, slot_id)),
        20,
        what="the wake message",
    )
    (channel_id,) = slot_channels(fake, slot_id)
    first.kill()
    assert await first.wait() < 0  # killed, no clean-up ran

    second = await bot_processes(env, tmp_path)
    await second.wait_log("moderator started")
    await second.wait_log("connected to Discord as")
    assert slot_channels(fake, slot_id) == [channel_id]
    assert len(fake.messages_in(channel_id)) == 1  # the wake was not posted again
    assert await status_in_file(tmp_path, slot_id) is SlotStatus.ONGOING

    await fake.inject_message(channel_id, fake.agents["alice"], "DONE: shipped")

    async def finished() -> bool:
        return await status_in_file(tmp_path, slot_id) is SlotStatus.FINISHED

    await wait_until(finished, what="the slot FINISHED through the old channel")
    await fake.wait_for(lambda: len(fake.messages_in(channel_id)) >= 3, 20, what="the answer")
    assert slot_channels(fake, slot_id) == [channel_id]

    second.terminate()
    assert await second.wait(20) == 0
    log = second.log_text()
    assert "SIGTERM received" in log
    assert fake.token not in log and fake.token not in first.log_text()


async def test_headless_wakes_through_the_webhook_and_the_agent_reports_to_the_served_calendar(
    tmp_path: Path, bot_processes: StartBot, spawn_receiver: SpawnReceiver
) -> None:
    slot_id = (await due_slot(tmp_path, "alice", "Headless work")).id
    port = free_port()
    env = bot_env(
        None,
        tmp_path,
        SPAWN_URL=spawn_receiver.url,
        CALENDAR_LISTEN=f"127.0.0.1:{port}",
    )

    proc = await bot_processes(env, tmp_path)
    await proc.wait_log("running headless")

    async def woken() -> bool:
        return bool(spawn_receiver.bodies)

    await wait_until(woken, what="the spawn webhook called")
    body = spawn_receiver.bodies[0]
    assert body["agent_id"] == "alice"
    assert body["slot"]["id"] == slot_id
    assert body["wake_id"] == wake_id_for(slot_id)
    assert "Do the thing." in body["prompt"]
    assert body["calendar_url"] == f"http://127.0.0.1:{port}"
    assert await status_in_file(tmp_path, slot_id) is SlotStatus.ONGOING

    # The woken agent reports back through the calendar API the bot serves.
    async with aiohttp.ClientSession() as http:
        url = f"{body['calendar_url']}/calendar/slots/{slot_id}/complete"
        async with http.post(url, headers={"X-Agent-Id": "alice"}, json={"note": "ok"}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["status"] == "FINISHED"

    proc.terminate()
    assert await proc.wait(20) == 0
    assert await status_in_file(tmp_path, slot_id) is SlotStatus.FINISHED
    assert len(spawn_receiver.bodies) == 1
    assert SPAWN_SECRET not in proc.log_text()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, ["DISCORD_TOKEN", "SPAWN_URL", "SPAWN_COMMAND"]),
        (
            {
                "SPAWN_URL": "http://127.0.0.1:9/x",
                "CALENDAR_URL": "http://127.0.0.1:9",
                "CALENDAR_LISTEN": "127.0.0.1:8089",
            },
            ["CALENDAR_LISTEN", "embedded"],
        ),
    ],
    ids=["no-way-to-wake", "listen-needs-embedded"],
)
async def test_a_configuration_that_cannot_run_exits_2_saying_what_to_set(
    tmp_path: Path, bot_processes: StartBot, settings: dict[str, str], expected: list[str]
) -> None:
    env = bot_env(None, tmp_path, **settings)
    proc = await bot_processes(env, tmp_path)
    assert await proc.wait(30) == 2
    out = proc.log_text()
    assert out.startswith("error: ")
    for word in expected:
        assert word in out
    assert "Traceback" not in out


async def test_sigterm_while_waiting_for_discord_still_exits_0(
    fake_discord: FakeDiscord, tmp_path: Path, bot_processes: StartBot
) -> None:
    """A bot whose gateway never answers (connections held) still stops cleanly."""
    fake = fake_discord
    fake.drop_connections(hold=True)
    proc = await bot_processes(bot_env(fake, tmp_path), tmp_path)
    await proc.wait_log("moderator started")
    proc.terminate()
    assert await proc.wait(20) == 0
    await asyncio.sleep(0)
    fake.release_gateway()


async def test_sigterm_during_a_wake_lets_it_finish_then_exits_0(
    fake_discord: FakeDiscord, tmp_path: Path, bot_processes: StartBot
) -> None:
    fake = fake_discord
    # Discord makes the wake wait (a rate limit on channel creation): it is in flight
    # when the signal comes, and must be finished, not cut off half-way.
    fake.fail_next("POST", "/guilds/{guild_id}/channels", status=429, retry_after=1.0)
    slot_id = (await due_slot(tmp_path, "alice", "Interrupted wake")).id
    env = bot_env(fake, tmp_path)
    proc = await bot_processes(env, tmp_path)
    await fake.wait_for(
        lambda: any(
            r.status == 429 for r in fake.requests_for("POST", "/guilds/{guild_id}/channels")
        ),
        20,
        what="the rate-limited channel creation",
    )
    proc.terminate()
    assert await proc.wait(20) == 0

    channels = slot_channels(fake, slot_id)
    assert len(channels) == 1
    assert len(fake.messages_in(channels[0])) == 1
    log = proc.log_text()
    assert log.index("SIGTERM received") < log.index(f"woke for slot {slot_id}"), log
    assert await status_in_file(tmp_path, slot_id) is SlotStatus.ONGOING

    # And a restart does not wake it again.
    again = await bot_processes(env, tmp_path)
    await again.wait_log("moderator started")
    assert slot_channels(fake, slot_id) == channels
    assert len(fake.messages_in(channels[0])) == 1
    again.terminate()
    assert await again.wait(20) == 0
