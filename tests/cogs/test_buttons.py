"""Complete/Abort buttons on the wake message: same rule as `/slot`, routed by custom_id."""

from __future__ import annotations

from typing import Any

from bot.core.models import SlotStatus
from testkit.fakediscord import FakeDiscord
from tests.e2e.harness import BotHarness

EPHEMERAL = 1 << 6


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [
        comp["custom_id"]
        for row in message.get("components") or []
        for comp in row.get("components") or []
    ]


async def wake_message_with_buttons(h: BotHarness, slot_id: str) -> tuple[int, dict[str, Any]]:
    channel_id = await h.wait_wake_channel(slot_id)
    message = await h.fake.wait_for(
        lambda: next((m for m in h.bot_messages(channel_id) if custom_ids(m)), None),
        what="buttons on the wake message",
    )
    return channel_id, message


def answer_text(fake: FakeDiscord, handle: Any) -> str:
    """What the presser saw: the initial response's content or the follow-ups."""
    data = (handle.response or {}).get("data") or {}
    return "\n".join([data.get("content") or ""] + [m["content"] for m in handle.followups])


async def test_an_admin_completes_a_slot_with_the_button(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    fake = h.fake
    slot = await h.add_slot("alice", in_s=-1, title="Ship the fix")
    channel_id, wake = await wake_message_with_buttons(h, slot.id)
    assert custom_ids(wake) == [f"slotctl:complete:{slot.id}", f"slotctl:abort:{slot.id}"]
    assert wake["content"].startswith(fake.agents["alice"].mention)  # the edit kept the text
    assert len(h.bot_messages(channel_id)) == 1  # no extra message for the agent to read

    handle = await fake.inject_component(
        fake.admin, channel_id, int(wake["id"]), f"slotctl:complete:{slot.id}"
    )
    await handle.wait_response()
    await fake.wait_for(lambda: handle.followups, what="the answer to the presser")
    assert not handle.refused
    assert handle.followups[0]["flags"] & EPHEMERAL
    assert "completed: now ✅ finished" in answer_text(fake, handle)
    await h.wait_status(slot.id, SlotStatus.FINISHED)

    notice = (await h.wait_bot_messages(channel_id, 2))[1]
    assert "**admin** pressed the Complete button" in notice["content"]
    assert notice["mentions"] == []
    # The slot ended: its buttons are taken off.
    await fake.wait_for(
        lambda: not custom_ids(h.bot_messages(channel_id)[0]), what="buttons removed"
    )


async def test_a_plain_member_is_refused_and_nothing_changes(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    fake = h.fake
    slot = await h.add_slot("alice", in_s=-1)
    channel_id, wake = await wake_message_with_buttons(h, slot.id)
    # Models a server that let the member see the channel: the bot must still refuse.
    handle = await fake.inject_component(
        fake.member,
        channel_id,
        int(wake["id"]),
        f"slotctl:abort:{slot.id}",
        check_permissions=False,
    )
    response = await handle.wait_response()
    assert response["data"]["flags"] & EPHEMERAL
    assert "Only members with the moderator's admin role" in answer_text(fake, handle)
    assert (await h.slot(slot.id)).status is SlotStatus.ONGOING
    assert custom_ids(h.bot_messages(channel_id)[0])  # buttons stay


async def test_an_agent_reply_ending_the_slot_takes_the_buttons_off(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    slot = await h.add_slot("alice", in_s=-1)
    channel_id, _ = await wake_message_with_buttons(h, slot.id)
    await h.agent_says("alice", channel_id, "ABORT: blocked")
    await h.wait_status(slot.id, SlotStatus.ABORTED)
    await h.fake.wait_for(
        lambda: not custom_ids(h.bot_messages(channel_id)[0]), what="buttons removed"
    )


async def test_buttons_are_made_exactly_for_the_slot_ids_a_press_can_be_routed_by() -> None:
    from cogs.views import SLOT_ID_MAX, SlotButton, controls_view

    routed = SlotButton.__discord_ui_compiled_template__
    for slot_id in ("a", "x.y_z-1", "s" * SLOT_ID_MAX):
        view = controls_view(slot_id)
        assert view is not None, slot_id
        for item in view.children:
            assert isinstance(item, SlotButton) and item.item.custom_id is not None
            match = routed.fullmatch(item.item.custom_id)
            assert match is not None and match["slot_id"] == slot_id
            assert len(item.item.custom_id) <= 100
    for slot_id in ("", "s" * (SLOT_ID_MAX + 1), "has space", "emoji✅", "a:b"):
        assert controls_view(slot_id) is None, slot_id
