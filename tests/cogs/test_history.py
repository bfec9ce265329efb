"""`/history [agent] [days]` end to end (DESIGN §7): the real bot, its embedded calendar and the
fake Discord; the slots end through the bot's own paths (a wake, `/slot`)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.models import Action, SlotStatus
from cogs.interactions import SOMETHING_WENT_WRONG
from testkit.fakediscord.interactions import _walk_components
from tests.cogs.support import ask, general, slot_command
from tests.e2e.harness import BotHarness

IMMEDIATE_RESPONSE = 4
UPDATE_MESSAGE = 7


def footer(message: dict[str, Any]) -> str:
    (embed,) = message["embeds"]
    return str(embed["footer"]["text"])


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The message's buttons by label."""
    return {
        c["label"]: c for c in _walk_components(message.get("components") or []) if c["type"] == 2
    }


async def test_history_lists_what_ended_newest_first_with_lateness_run_time_and_note(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    late = await h.add_slot("alice", in_s=-150, title="Nightly triage")
    await h.wait_wake_channel(late.id)
    await slot_command(h.fake, h.fake.admin, "complete", late.id, note="all green")
    aborted, _ = await h.woken_slot("bob", title="Flaky deploy")
    await slot_command(h.fake, h.fake.admin, "abort", aborted.id, note="gave up on it")
    ahead = await h.add_slot("alice", in_s=3 * 3600, title="Release notes")
    await slot_command(h.fake, h.fake.admin, "cancel", ahead.id, note="not needed")
    pending = await h.add_slot("bob", in_s=3600, title="Still to come")

    handle = await ask(h.fake, h.fake.member, general(h.fake), "history")
    text = handle.text()
    assert handle.ephemeral, text
    assert "History of every agent: the last 7 days" in text
    positions = [text.index(f"`{s.id}`") for s in (ahead, aborted, late)]
    assert positions == sorted(positions), text  # newest end first
    assert pending.id not in text and "Still to come" not in text
    assert "🚫 cancelled" in text and "❌ aborted" in text and "✅ finished" in text
    late_line = text[positions[2] :]
    assert "woken 2 min late" in late_line and "ran " in late_line, text
    assert "all green" in late_line and "gave up on it" in text and "not needed" in text
    assert "never woken" in text[positions[0] : positions[1]]  # cancelled before its time
    assert not buttons(handle.messages()[0])  # one page: no buttons

    only_bob = await ask(h.fake, h.fake.member, general(h.fake), "history", {"agent": "bob"})
    assert aborted.id in only_bob.text() and late.id not in only_bob.text()
    assert ahead.id not in only_bob.text()


async def test_history_pages_with_buttons(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    ended = []
    for number in range(13):
        slot = await h.add_slot("alice", in_s=3600 + number, title=f"Chore {number:02d}")
        ended.append(await h.calendar.transition(slot.id, Action.CANCEL, note=f"dropped {number}"))
    assert all(s.status is SlotStatus.CANCELLED for s in ended)

    where = general(h.fake)
    handle = await ask(h.fake, h.fake.member, where, "history", {"agent": "alice", "days": 1})
    (message,) = handle.messages()
    first = handle.text()
    assert footer(message).startswith("Page 1 of 2 · 13 ended · times in UTC"), message
    assert "Chore 12" in first and "Chore 00" not in first  # newest first
    found = buttons(message)
    assert found["Previous"].get("disabled") is True and not found["Next"].get("disabled")
    # Discord lets the asker press buttons on an ephemeral message; the fake keeps only
    # public messages in its index, so the test puts this one there to press it.
    h.fake.model.message_index[int(message["id"])] = message
    press = await h.fake.inject_component(
        h.fake.member, where, int(message["id"]), found["Next"]["custom_id"]
    )
    await press.wait_response()
    assert press.response_type == UPDATE_MESSAGE and not press.refused
    second = press.text()
    assert footer(press.messages()[0]).startswith("Page 2 of 2")
    assert "Chore 00" in second and "Chore 12" not in second
    assert buttons(press.messages()[0])["Next"].get("disabled") is True
    back = await h.fake.inject_component(
        h.fake.member, where, int(message["id"]), found["Previous"]["custom_id"]
    )
    await back.wait_response()
    assert footer(back.messages()[0]).startswith("Page 1 of 2") and "Chore 12" in back.text()


async def test_nothing_ended_is_said_plainly(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    await h.add_slot("alice", in_s=3600)
    handle = await ask(h.fake, h.fake.member, general(h.fake), "history", {"days": 3})
    assert handle.ephemeral and handle.text() == "Nothing ended in the last 3 days (every agent)."


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("days-zero", {"days": 0}, "`days` must be a whole number from 1 to 92 (got 0)"),
    ("days-93", {"days": 93}, "`days` must be a whole number from 1 to 92 (got 93)"),
    ("days-huge", {"days": 2**40}, "from 1 to 92"),
    ("days-negative", {"days": -5}, "from 1 to 92"),
    ("unknown-agent", {"agent": "zed"}, "unknown agent 'zed'"),
    ("huge-agent", {"agent": "x" * 5000}, "unknown agent"),
]


@pytest.mark.parametrize(("options", "says"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_bad_history_input_is_answered_at_once_and_ephemerally(
    moderator_bot: BotHarness, options: dict[str, Any], says: str
) -> None:
    h = moderator_bot
    where = general(h.fake)
    handle = await ask(h.fake, h.fake.member, where, "history", options)
    text = handle.text()
    assert handle.ephemeral and handle.response_type == IMMEDIATE_RESPONSE, text
    assert says in text and text != SOMETHING_WENT_WRONG and len(text) <= 2000, text
    assert h.fake.messages_in(where) == []
