"""The whole loop in-process: due slot -> private channel + mention -> reply -> calendar."""

from __future__ import annotations

from bot.core.models import SlotStatus
from bot.core.reply_words import parse_reply
from tests.e2e.harness import BotHarness


async def test_due_slot_is_woken_in_a_private_channel_and_done_completes_it(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    fake = h.fake
    alice = fake.agents["alice"]
    first = await h.add_slot("alice", in_s=2, title="Ship the fix", prompt="Ship PR 42.")
    second = await h.add_slot("alice", in_s=3, title="Write notes", prompt="Release notes.")

    channel_id = await h.wait_wake_channel(first.id)
    assert fake.viewers(channel_id) == {alice.id, fake.bot_user.id, fake.admin.id}
    wake = h.bot_messages(channel_id)[0]
    assert wake["content"].startswith(alice.mention)
    assert "Ship PR 42." in wake["content"]
    assert [int(u["id"]) for u in wake["mentions"]] == [alice.id]
    assert (await h.slot(first.id)).status is SlotStatus.ONGOING
    # The agent holds one slot: the second is due but waits.
    assert h.wake_channel(second.id) is None

    await h.agent_says("alice", channel_id, "DONE: shipped")

    done = await h.wait_status(first.id, SlotStatus.FINISHED)
    assert done.status is SlotStatus.FINISHED
    messages = await h.wait_bot_messages(channel_id, 2)
    ack = messages[1]
    assert "finished" in ack["content"] and "shipped" in ack["content"]
    assert ack["mentions"] == [] and ack["mention_roles"] == []
    assert alice.mention not in ack["content"]
    assert parse_reply(ack["content"]).is_progress

    # The next due slot is woken at once (loop intervals are an hour).
    next_channel = await h.wait_wake_channel(second.id)
    assert next_channel != channel_id
    assert (await h.slot(second.id)).status is SlotStatus.ONGOING
