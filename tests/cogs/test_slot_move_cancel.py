"""`/slot cancel` and `/slot move` end to end (DESIGN §7): the real bot, its embedded calendar,
the fake Discord. The moderator hears of each change from the calendar at once, so a slot
moved earlier is woken at its new time without a sync."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.core.models import SlotStatus
from cogs.interactions import SOMETHING_WENT_WRONG
from tests.cogs.support import slot_command
from tests.e2e.harness import BotHarness

IMMEDIATE_RESPONSE = 4


async def test_cancel_of_a_pending_slot_is_final_and_it_is_never_woken(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    slot = await h.add_slot("bob", in_s=2)
    handle = await slot_command(h.fake, h.fake.admin, "cancel", slot.id, note="not needed")
    assert handle.ephemeral and "cancelled" in handle.text() and "Not announced" in handle.text()
    cancelled = await h.slot(slot.id)
    assert cancelled.status is SlotStatus.CANCELLED and "not needed" in (cancelled.note or "")
    handle = await slot_command(h.fake, h.fake.admin, "cancel", slot.id)
    assert "Cannot cancel" in handle.text()
    await h.bot.moderator.check_all(h.bot.clock.now() + timedelta(seconds=5))
    assert h.wake_channel(slot.id) is None
    assert (await h.slot(slot.id)).status is SlotStatus.CANCELLED


async def test_move_earlier_wakes_the_slot_at_its_new_time(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    slot = await h.add_slot("alice", in_s=3 * 3600)
    handle = await slot_command(h.fake, h.fake.admin, "move", slot.id, when="in 2s")
    text = handle.text()
    assert handle.ephemeral and "moved: it is now woken at" in text and "(UTC)" in text, text
    assert "Not announced" in text
    moved = await h.slot(slot.id)
    assert moved.scheduled_at < slot.scheduled_at - timedelta(hours=2)
    await h.wait_status(slot.id, SlotStatus.ONGOING)  # no sync asked: the change notice did it


async def test_move_is_announced_in_the_slots_channel_when_it_has_one(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    slot = await h.add_slot("alice", in_s=3 * 3600)
    channel_id = h.fake.add_channel("alice-review")
    await h.bot.state.save_channel(slot.id, "alice", channel_id)  # as after a release
    handle = await slot_command(
        h.fake, h.fake.admin, "move", slot.id, when="tomorrow 09:00", note="after the release"
    )
    assert "Announced in" in handle.text(), handle.text()
    (notice,) = await h.wait_bot_messages(channel_id, 1)
    assert "/slot move" in notice["content"] and "09:00" in notice["content"]
    assert "Note: after the release" in notice["content"] and notice["mentions"] == []
    moved = await h.slot(slot.id)
    assert moved.scheduled_at.hour == 9 and moved.scheduled_at.minute == 0


async def test_move_of_a_running_slot_is_refused(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    slot, _ = await h.woken_slot("alice")
    handle = await slot_command(h.fake, h.fake.admin, "move", slot.id, when="in 1h")
    assert "Cannot move slot" in handle.text() and "only a not started or deferred" in (
        handle.text()
    )
    assert (await h.slot(slot.id)).scheduled_at == slot.scheduled_at


#: (case id, action, options besides action and slot_id, words the answer must hold).
REFUSED: list[tuple[str, str, dict[str, Any], str]] = [
    ("move-without-when", "move", {}, "`/slot move` needs `when`"),
    ("move-blank-when", "move", {"when": "   "}, "`/slot move` needs `when`"),
    ("move-unparsable", "move", {"when": "someday"}, "is not a time"),
    ("move-past", "move", {"when": "2020-01-01 09:00"}, "is in the past"),
    ("move-huge", "move", {"when": "1" * 10_000}, "at most 40 characters"),
    ("move-with-minutes", "move", {"when": "in 1h", "minutes": 5}, "`minutes` goes only with"),
    ("when-with-cancel", "cancel", {"when": "in 1h"}, "`when` goes only with `move`"),
]


@pytest.mark.parametrize(
    ("action", "options", "says"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
async def test_bad_move_and_cancel_input_is_refused_and_changes_nothing(
    moderator_bot: BotHarness, action: str, options: dict[str, Any], says: str
) -> None:
    h = moderator_bot
    slot = await h.add_slot("bob", in_s=3 * 3600)
    handle = await slot_command(h.fake, h.fake.admin, action, slot.id, **options)
    text = handle.text()
    assert handle.ephemeral and handle.response_type == IMMEDIATE_RESPONSE, text
    assert says in text and text != SOMETHING_WENT_WRONG and len(text) <= 2000, text
    assert await h.slot(slot.id) == slot
