"""Agent replies end to end (DESIGN §6): who may steer a slot, the words, the answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.core.models import SlotStatus
from bot.core.reply_words import parse_reply
from bot.presenters.reply_answers import acknowledgement
from tests.e2e.harness import BotHarness, wait_until


async def _woken(h: BotHarness, agent: str = "alice", **fields: Any) -> tuple[str, int]:
    slot = await h.add_slot(agent, in_s=0.5, **fields)
    channel_id = await h.wait_wake_channel(slot.id)
    return slot.id, channel_id


def _assert_quiet_answer(message: dict[str, Any], h: BotHarness) -> None:
    """An answer mentions nobody and cannot be read as a reply word by an agent."""
    content = str(message["content"])
    assert message["mentions"] == [] and message["mention_roles"] == []
    assert message["mention_everyone"] is False
    for agent in h.fake.agents.values():
        assert agent.mention not in content
    assert parse_reply(content).is_progress, content


async def test_messages_from_anyone_but_the_slots_agent_change_nothing(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    fake = h.fake
    slot_id, channel_id = await _woken(h, "alice")
    bob_slot, bob_channel = await _woken(h, "bob")
    general = fake.add_channel("general")

    # The agent itself, but outside its wake channel.
    await h.agent_says("alice", general, "DONE: wrong place")
    await fake.inject_message(bob_channel, fake.agents["alice"], "DONE", check_permissions=False)
    # People and other bots in the agent's channel (the admin role may post there;
    # the others could only if someone loosened the channel's permissions).
    await fake.inject_message(channel_id, fake.admin, "DONE: admin says so")
    await fake.inject_message(channel_id, fake.member, "ABORT", check_permissions=False)
    await fake.inject_message(channel_id, fake.agents["bob"], "DONE", check_permissions=False)
    await fake.inject_message(channel_id, fake.agents["carol"], "PAUSE", check_permissions=False)
    # A barrier: the channel's messages are handled in order, so once this one is
    # answered every message above it in this channel has been handled too.
    await h.agent_says("alice", channel_id, "PAUSE")
    await h.wait_bot_messages(channel_id, 2)

    assert (await h.slot(slot_id)).status is SlotStatus.PAUSED
    assert (await h.slot(bob_slot)).status is SlotStatus.ONGOING
    assert len(h.bot_messages(channel_id)) == 2  # the wake and the PAUSE answer only
    assert "paused" in h.bot_messages(channel_id)[1]["content"]
    assert h.bot_messages(general) == []
    # bob's own reply in his own channel still counts (alice's DONE there did not).
    await h.agent_says("bob", bob_channel, "done")
    await h.wait_status(bob_slot, SlotStatus.FINISHED)
    assert len(h.bot_messages(bob_channel)) == 2


@pytest.mark.parametrize(
    ("text", "status", "word"),
    [
        ("PAUSE", SlotStatus.PAUSED, "paused"),
        ("**Abort** — blocked on CI", SlotStatus.ABORTED, "aborted"),
        ("**Done**", SlotStatus.FINISHED, "finished"),
        ("<@0> done: shipped", SlotStatus.FINISHED, "finished"),
    ],
)
async def test_reply_words_move_the_slot_and_are_acknowledged(
    moderator_bot: BotHarness, text: str, status: SlotStatus, word: str
) -> None:
    h = moderator_bot
    slot_id, channel_id = await _woken(h)
    text = text.replace("<@0>", h.fake.bot_user.mention)

    await h.agent_says("alice", channel_id, text)

    await h.wait_status(slot_id, status)
    ack = (await h.wait_bot_messages(channel_id, 2))[1]
    assert word in ack["content"]
    _assert_quiet_answer(ack, h)
    # The very words the demo prints for the same reply (tests/app/test_demo.py checks its side).
    note = parse_reply(text).note or None
    assert ack["content"] == acknowledgement(await h.slot(slot_id), note)


async def test_pause_resume_then_done_with_progress_in_between(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    slot_id, channel_id = await _woken(h)

    await h.agent_says("alice", channel_id, "Done with step 1, now the tests")  # progress
    await h.agent_says("alice", channel_id, "I'm not done")  # progress
    await h.agent_says("alice", channel_id, "```\nPAUSE\n```")
    await h.wait_status(slot_id, SlotStatus.PAUSED)
    await h.agent_says("alice", channel_id, "resume")
    await h.wait_status(slot_id, SlotStatus.ONGOING)
    await h.agent_says("alice", channel_id, "DONE\n" + "résumé ✓ " * 300)
    await h.wait_status(slot_id, SlotStatus.FINISHED)

    answers = await h.wait_bot_messages(channel_id, 4)
    assert len(answers) == 4  # wake, paused, ongoing again, finished: progress is not answered
    assert ["paused" in answers[1]["content"], "ongoing" in answers[2]["content"]] == [True, True]
    assert "finished" in answers[3]["content"]
    for answer in answers[1:]:
        _assert_quiet_answer(answer, h)
        assert len(answer["content"]) <= 2000


async def test_a_refused_reply_is_explained_once_a_minute(
    moderator_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.core.reply_handling")
    h = moderator_bot
    slot_id, channel_id = await _woken(h)
    await h.agent_says("alice", channel_id, "DONE")
    await h.wait_status(slot_id, SlotStatus.FINISHED)
    await h.wait_bot_messages(channel_id, 2)

    await h.agent_says("alice", channel_id, "DONE: again")
    explained = (await h.wait_bot_messages(channel_id, 3))[2]
    assert "Not applied" in explained["content"] and "FINISHED" in explained["content"]
    _assert_quiet_answer(explained, h)

    await h.agent_says("alice", channel_id, "ABORT")
    await wait_until(
        _async(lambda: "not explaining again within a minute" in caplog.text),
        what="the second refusal logged",
    )
    assert len(h.bot_messages(channel_id)) == 3
    assert (await h.slot(slot_id)).status is SlotStatus.FINISHED


async def test_a_calendar_outage_is_said_and_logged_not_dropped(
    make_moderator_bot: Callable[..., Awaitable[BotHarness]], caplog: pytest.LogCaptureFixture
) -> None:
    h = await make_moderator_bot(remote_calendar=True)
    faults = h.calendar_faults
    assert faults is not None
    slot_id, channel_id = await _woken(h)

    faults.down = {"complete"}
    await h.agent_says("alice", channel_id, "DONE: shipped")
    answer = (await h.wait_bot_messages(channel_id, 2))[1]
    assert "Couldn't record" in answer["content"] and "again" in answer["content"]
    _assert_quiet_answer(answer, h)
    assert faults.failed >= 1
    assert "could not be recorded" in caplog.text
    assert (await h.slot(slot_id)).status is SlotStatus.ONGOING

    faults.down = set()
    await h.agent_says("alice", channel_id, "DONE: shipped")
    await h.wait_status(slot_id, SlotStatus.FINISHED)
    assert "finished" in (await h.wait_bot_messages(channel_id, 3))[2]["content"]


def _async(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return predicate()

    return check
