"""SIGKILL at each step of a wake, then a restart: the slot is woken exactly once.

Each test runs the real `python -m bot` as a subprocess with `MODERATOR_CRASH_AT`
naming one crash point (bot/core/crashpoints.py), checks that it died by SIGKILL at
that very step (the log line, and the calendar / ledger / Discord left exactly
half-done as that step implies), restarts it without the variable and checks
what an agent would see: through Discord one channel and one wake message,
and the agent's DONE completes the slot; through the spawn webhook at least one
delivery, every one with the same `wake_id`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.core.crashpoints import CRASH_POINTS, ENV_VAR
from bot.core.models import Action, SlotStatus
from bot.wakers.spawn import wake_id_for
from testkit.fakediscord import FakeDiscord
from testkit.fakediscord.fixtures import fake_discord
from tests.e2e.harness import (
    REPO_ROOT,
    SPAWN_SECRET,
    BotProcess,
    SpawnReceiver,
    bot_env,
    bot_processes,
    due_slot,
    open_calendar_file,
    slot_channels,
    spawn_receiver,
    status_in_file,
    wait_until,
)
from tests.faults.discord_fixtures import (
    bot_texts,
    ledger_of,
    wake_posts,
)

# Fixtures this module uses (no conftest of ours in tests/faults/).
__all__ = ["bot_processes", "fake_discord", "spawn_receiver"]

StartBot = Callable[..., Awaitable[BotProcess]]
CRASH_WAIT_S = 30.0


def _crash_line(point: str) -> str:
    return f"crash point {point} reached ({ENV_VAR})"


async def _crashed_at(proc: BotProcess, point: str) -> str:
    """The run died by SIGKILL right after logging the crash point; its log."""
    code = await proc.wait(CRASH_WAIT_S)
    log = proc.log_text()
    assert code == -signal.SIGKILL, f"exit {code}, expected SIGKILL:\n{log[-4000:]}"
    assert f"CRITICAL bot.core.crashpoints: {_crash_line(point)}" in log, log[-4000:]
    assert log.rstrip().endswith(_crash_line(point)), log[-4000:]  # nothing ran after it
    assert "Traceback" not in log, log[-4000:]
    return log


# ---- the crash points themselves ---------------------------------------------------


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    full.update(env, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=30
    )


_PROBE = (
    "from bot.core.crashpoints import crash_point\n"
    "for name in ('after_intent', 'after_claim', 'after_channel', 'after_message'):\n"
    "    print('passing', name, flush=True)\n"
    "    crash_point(name)\n"
    "print('survived', flush=True)\n"
)


def test_unset_the_points_do_nothing() -> None:
    run = _python(_PROBE)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "survived"
    assert run.stderr == ""


def test_a_listed_point_kills_the_process_there_with_one_critical_line() -> None:
    run = _python(_PROBE, **{ENV_VAR: " after_message , after_claim"})
    assert run.returncode == -signal.SIGKILL
    # the first listed point reached in order is after_claim; nothing after it ran
    assert run.stdout.split("\n")[:-1] == ["passing after_intent", "passing after_claim"]
    assert _crash_line("after_claim") in run.stderr
    assert "test-only" in run.stderr  # an operator who set it by mistake is told


def test_a_misspelt_point_is_named_not_silently_ignored() -> None:
    run = _python(_PROBE, **{ENV_VAR: "after_clam"})
    assert run.returncode == 0
    assert "unknown crash point(s) after_clam" in run.stderr
    assert "after_claim" in run.stderr  # the known ones are listed


def test_every_point_is_placed_in_the_wake_path() -> None:
    """A refactor must not drop a point: its test would pass without ever crashing."""
    sources = "".join(
        path.read_text(encoding="utf-8") for path in sorted((REPO_ROOT / "bot").rglob("*.py"))
    )
    placed = set(re.findall(r'crash_point\("([a-z_]+)"\)', sources))
    assert placed == CRASH_POINTS


# ---- Discord: each point, then a restart -----------------------------------------------


@dataclass(frozen=True)
class HalfDone:
    """What a crash at a point must have left behind (before the restart)."""

    status: SlotStatus
    channels: int
    posts: int
    ledger_claimed: bool


HALF_DONE = {
    "after_intent": HalfDone(SlotStatus.NOT_STARTED, channels=0, posts=0, ledger_claimed=False),
    "after_claim": HalfDone(SlotStatus.ONGOING, channels=0, posts=0, ledger_claimed=False),
    "after_channel": HalfDone(SlotStatus.ONGOING, channels=1, posts=0, ledger_claimed=True),
    "after_message": HalfDone(SlotStatus.ONGOING, channels=1, posts=1, ledger_claimed=True),
}


@pytest.mark.parametrize("point", list(HALF_DONE))
async def test_discord_wake_killed_at_a_point_then_restarted_wakes_exactly_once(
    fake_discord: FakeDiscord, tmp_path: Path, bot_processes: StartBot, point: str
) -> None:
    fake = fake_discord
    slot = await due_slot(tmp_path, "alice", f"Survive {point}")

    crashing = await bot_processes(bot_env(fake, tmp_path, MODERATOR_CRASH_AT=point), tmp_path)
    await _crashed_at(crashing, point)

    expected = HALF_DONE[point]
    assert await status_in_file(tmp_path, slot.id) is expected.status
    assert len(slot_channels(fake, slot.id)) == expected.channels
    assert len(wake_posts(fake, slot.id)) == expected.posts
    ledger = await ledger_of(tmp_path, slot.id)
    assert ledger.entry is not None and ledger.entry.unfinished, ledger
    assert ledger.entry.claimed is expected.ledger_claimed, ledger
    if expected.channels:
        # the link is saved before the message; the message id was never recorded
        assert ledger.link is not None and ledger.link.message_id is None, ledger
        assert ledger.link.channel_id == slot_channels(fake, slot.id)[0]

    env = bot_env(fake, tmp_path)
    assert ENV_VAR not in env
    second = await bot_processes(env, tmp_path)
    await second.wait_log(f"woke for slot {slot.id} via discord")
    await second.wait_log("moderator started")
    (channel_id,) = slot_channels(fake, slot.id)
    assert await status_in_file(tmp_path, slot.id) is SlotStatus.ONGOING

    await fake.inject_message(channel_id, fake.agents["alice"], "DONE: survived the crash")

    async def finished() -> bool:
        return await status_in_file(tmp_path, slot.id) is SlotStatus.FINISHED

    await wait_until(finished, what=f"slot FINISHED after a crash {point}")
    await fake.wait_for(
        lambda: any(t.startswith("✅") for t in bot_texts(fake, channel_id)), 20, what="the ack"
    )

    # Exactly once, as the agent sees it, after everything has settled.
    assert slot_channels(fake, slot.id) == [channel_id]
    posts = wake_posts(fake, slot.id)
    assert len(posts) == 1, [p["content"][:80] for p in posts]
    assert f"<@{fake.agents['alice'].id}>" in posts[0]["content"]

    second.terminate()
    assert await second.wait(20) == 0
    ledger = await ledger_of(tmp_path, slot.id)
    assert ledger.entry is not None and ledger.entry.result is not None, ledger
    assert ledger.entry.result.ok is True, ledger
    assert ledger.link is not None and ledger.link.message_id == int(posts[0]["id"]), ledger
    log = second.log_text()
    assert _crash_line(point) not in log
    if point in ("after_claim", "after_channel", "after_message"):
        assert "waking again (the waker finds an existing channel)" in log
    assert fake.token not in log and fake.token not in crashing.log_text()


async def test_a_done_written_while_the_moderator_was_stopped_is_read_at_its_start(
    fake_discord: FakeDiscord, tmp_path: Path, bot_processes: StartBot
) -> None:
    """Discord replays nothing to a new session: the agent's DONE, written while the
    moderator was stopped (an upgrade, a crash), is read back from the channel at the next
    start (everything after the moderator's last message there), not lost until the stuck
    rule aborts the slot."""
    fake = fake_discord
    slot = await due_slot(tmp_path, "alice", "Finish while I am away")
    first = await bot_processes(bot_env(fake, tmp_path), tmp_path)
    await first.wait_log(f"woke for slot {slot.id} via discord")
    (channel_id,) = slot_channels(fake, slot.id)
    first.terminate()
    assert await first.wait(20) == 0

    await fake.inject_message(channel_id, fake.agents["alice"], "DONE: finished meanwhile")
    second = await bot_processes(bot_env(fake, tmp_path), tmp_path)

    async def finished() -> bool:
        return await status_in_file(tmp_path, slot.id) is SlotStatus.FINISHED

    await wait_until(finished, what="the DONE written while stopped, read back at the start")
    await fake.wait_for(
        lambda: any(t.startswith("✅") for t in bot_texts(fake, channel_id)), 20, what="the ack"
    )
    second.terminate()
    assert await second.wait(20) == 0
    assert "1 message(s) written while disconnected" in second.log_text()


# ---- spawn: at-least-once with a stable wake_id ------------------------------------------


@pytest.mark.parametrize(("point", "delivered_before"), [("after_claim", 0), ("after_message", 1)])
async def test_spawn_wake_killed_after_the_claim_is_delivered_with_one_wake_id(
    tmp_path: Path,
    bot_processes: StartBot,
    spawn_receiver: SpawnReceiver,
    point: str,
    delivered_before: int,
) -> None:
    slot = await due_slot(tmp_path, "alice", f"Headless {point}")
    crashing = await bot_processes(
        bot_env(None, tmp_path, SPAWN_URL=spawn_receiver.url, MODERATOR_CRASH_AT=point), tmp_path
    )
    await _crashed_at(crashing, point)
    assert len(spawn_receiver.bodies) == delivered_before
    assert await status_in_file(tmp_path, slot.id) is SlotStatus.ONGOING

    second = await bot_processes(bot_env(None, tmp_path, SPAWN_URL=spawn_receiver.url), tmp_path)
    await second.wait_log(f"woke for slot {slot.id} via spawn_url")
    await second.wait_log("moderator started")

    bodies = spawn_receiver.bodies
    assert len(bodies) >= 1
    assert len(bodies) == delivered_before + 1  # the restart delivers once more, no more
    expected_id = wake_id_for(slot.id)
    assert {b["wake_id"] for b in bodies} == {expected_id}
    assert set(spawn_receiver.keys) == {expected_id}  # Idempotency-Key carries it too
    assert {b["slot"]["id"] for b in bodies} == {slot.id}

    # The woken agent reports back; the slot ends and is never woken again.
    calendar = await open_calendar_file(tmp_path)
    try:
        done = await calendar.transition(slot.id, Action.COMPLETE, agent_id="alice", note="ok")
    finally:
        await calendar.close()
    assert done.status is SlotStatus.FINISHED
    second.terminate()
    assert await second.wait(20) == 0
    assert len(spawn_receiver.bodies) == delivered_before + 1
    assert SPAWN_SECRET not in second.log_text() + crashing.log_text()
