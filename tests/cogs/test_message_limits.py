"""Every answer fits Discord's limits (DESIGN §5): 60 agents and 200-character titles.

The fake refuses what real Discord refuses (content over 2,000 characters, an
embed over 6,000, a field over 1,024), and `ask` fails on any refused answer,
so each command below is proven to be answered, not only formatted.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import discord
import pytest

from bot.core.models import SlotCreate
from bot.presenters.discord_embed import EMBED_TOTAL_LIMIT, MESSAGE_LIMIT
from testkit.fakediscord.interactions import InteractionHandle
from tests.cogs.support import ask, general
from tests.e2e.harness import BotHarness

Options = dict[str, str]

#: 60 agents with the longest ids there are (32 characters), alice among them.
AGENTS = ("alice", *(f"agent-{i:02d}-" + "x" * 23 for i in range(59)))
#: A 200-character title that escaping makes longer still (every `*` gains a backslash).
TITLE = ("**Deploy** the `release` _now_ | " * 7)[:200]


async def _crowded_bot(make_moderator_bot: object, slots_per_agent: int) -> BotHarness:
    h: BotHarness = await make_moderator_bot(agents=AGENTS)  # type: ignore[operator]
    # Tomorrow from 10:00, whatever the time now: "now + 30 min" ran past midnight late in
    # the day, and then today's /schedule showed fewer slots than the test made.
    tz = h.settings.tz
    tomorrow = h.bot.clock.now().astimezone(tz).date() + timedelta(days=1)
    first = datetime.combine(tomorrow, time(10, 0), tzinfo=tz)
    for n, agent in enumerate(AGENTS):
        for k in range(slots_per_agent if agent != "alice" else 40):
            await h.calendar.create_slot(
                SlotCreate(
                    agent_id=agent,
                    scheduled_at=first + timedelta(minutes=n + k),
                    title=TITLE,
                    slot_type="t" * 32,  # the longest DESIGN §3.2 allows
                    prompt="p",
                )
            )
    await h.bot.moderator.sync_all()
    return h


async def _ask_crowded(
    make_moderator_bot: object, slots_per_agent: int, asker: str, command: str, options: Options
) -> InteractionHandle:
    """`command` asked by the fake's `asker` ("member", "admin") of a crowded bot; every
    message of the answer fits Discord's limits."""
    h = await _crowded_bot(make_moderator_bot, slots_per_agent)
    handle = await ask(h.fake, getattr(h.fake, asker), general(h.fake), command, options)
    _assert_fits(*handle.messages())
    return handle


def _assert_fits(*messages: dict[str, Any]) -> None:
    """What the fake already refuses, said again so a test fails where the answer is built."""
    for message in messages:
        content, embeds = _sizes(message)
        assert content <= MESSAGE_LIMIT and embeds <= EMBED_TOTAL_LIMIT


def _sizes(message: dict[str, object]) -> tuple[int, int]:
    """(content length, embeds' total as Discord counts it) of a message the fake stored."""
    content = message.get("content") or ""
    total = 0
    for embed in message.get("embeds") or []:  # type: ignore[attr-defined]
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        total += len((embed.get("footer") or {}).get("text", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    return len(str(content)), total


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="schedule-all"),
        pytest.param({"agent": "alice"}, id="schedule-alice-40-slots"),
        pytest.param({"agent": "nobody"}, id="schedule-unknown-agent-lists-60"),
    ],
)
async def test_schedule_with_60_agents_and_long_titles_is_answered(
    make_moderator_bot: object, options: dict[str, str]
) -> None:
    asked = {**options, "date": "tomorrow"}
    handle = await _ask_crowded(make_moderator_bot, 3, "member", "schedule", asked)
    text = handle.text()
    if options.get("agent") == "nobody":
        assert "nobody" in text
    elif options:
        assert "40 slot(s)" in text and "… and" in text  # the rest is counted, not dropped
    else:
        (embed,) = handle.messages()[0]["embeds"]
        assert "60 agents" in text and "more agent(s)" in embed["footer"]["text"]


@pytest.mark.parametrize("options", [{}, {"agent": "alice"}], ids=["status-all", "status-alice"])
async def test_status_with_60_agents_and_long_titles_is_answered(
    make_moderator_bot: object, options: dict[str, str]
) -> None:
    handle = await _ask_crowded(make_moderator_bot, 1, "admin", "status", options)
    assert ("60 agents" if not options else "Status of alice") in handle.text()


async def test_long_notes_and_titles_on_slot_fit_the_answer_and_the_notice(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    slot, channel_id = await h.woken_slot("alice", title=TITLE)
    before = len(h.bot_messages(channel_id))
    # Discord lets a string option hold 6,000 characters; the answer says no, within limits.
    too_long = await ask(
        h.fake,
        h.fake.admin,
        general(h.fake),
        "slot",
        {"action": "complete", "slot_id": slot.id, "note": "why " * 1500},
    )
    assert "nothing was changed" in too_long.text()
    handle = await ask(
        h.fake,
        h.fake.admin,
        general(h.fake),
        "slot",
        {"action": "complete", "slot_id": slot.id, "note": ("**why** " * 100)[:500]},
    )
    assert slot.id in handle.text() and "Announced in" in handle.text()
    notice = (await h.wait_bot_messages(channel_id, before + 1))[-1]
    assert slot.id in notice["content"] and "Note: **why**" in notice["content"]
    _assert_fits(*too_long.messages(), *handle.messages(), notice)


async def test_the_fake_refuses_content_over_2000_like_discord(moderator_bot: BotHarness) -> None:
    """Without this rule in the fake, every test above would prove nothing."""
    channel = moderator_bot.bot.get_partial_messageable(general(moderator_bot.fake))
    await channel.send("x" * MESSAGE_LIMIT)
    with pytest.raises(discord.HTTPException) as refused:
        await channel.send("x" * (MESSAGE_LIMIT + 1))
    assert refused.value.status == 400
    message = await channel.send("short")
    with pytest.raises(discord.HTTPException) as refused_edit:
        await message.edit(content="y" * (MESSAGE_LIMIT + 1))
    assert refused_edit.value.status == 400
    assert len(moderator_bot.fake.violations) == 2  # both seen as the bot's mistakes
    moderator_bot.fake.violations.clear()  # deliberate here; the fixture would fail the test
