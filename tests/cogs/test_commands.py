"""The slash commands end to end: the real bot, discord.py's app_commands, the fake Discord.

Every command goes through `ask`, which fails when Discord would have refused
an answer (late, twice, wrong type), so "answered within 3 s" is checked on
every interaction here, not in one test.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import cast

import pytest

from bot.core.models import SlotCreate, SlotStatus
from cogs.interactions import SOMETHING_WENT_WRONG
from cogs.status import StatusCog
from testkit.fakediscord import DEFAULT_BOT_PERMISSIONS, P
from testkit.fakediscord.fixtures import MakeFake
from tests.cogs.support import ask, complete, general, slot_command
from tests.e2e.harness import BotHarness, running_bot

DEFERRED_RESPONSE = 5
IMMEDIATE_RESPONSE = 4


def status_cog(h: BotHarness) -> StatusCog:
    """The loaded cog (discord.py loads the extension as a fresh module: no isinstance)."""
    found = h.bot.get_cog("Status")
    assert type(found).__name__ == "StatusCog"
    return cast(StatusCog, found)


async def test_the_commands_are_registered_in_the_guild(moderator_bot: BotHarness) -> None:
    by_name = {c["name"]: c for c in moderator_bot.fake.guild_commands}
    assert {"schedule", "status", "slot", "sync"} <= set(by_name)
    # No default_member_permissions: Discord would hide them from the admin role.
    assert by_name["slot"].get("default_member_permissions") is None
    assert by_name["sync"].get("default_member_permissions") is None
    schedule_options = [o["name"] for o in by_name["schedule"]["options"]]
    assert schedule_options == ["agent", "date", "days", "view", "feed"]
    for name, options in (
        ("schedule", ["agent", "date"]),
        ("status", ["agent"]),
        ("sync", ["agent"]),
    ):
        opts = [o for o in by_name[name]["options"] if o["name"] in options]
        assert [o["name"] for o in opts] == options, name
        assert all(o["type"] == 3 and o["autocomplete"] and not o.get("required") for o in opts)


async def test_slot_is_one_command_with_action_slot_id_and_note_as_synced(
    moderator_bot: BotHarness,
) -> None:
    """What the bot PUT at bulk overwrite: `/slot <action> <slot_id> [note]` (DESIGN §7),
    no sub-commands, so anything that sends those option names can drive it."""
    fake = moderator_bot.fake
    puts = fake.requests_for("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
    assert puts and puts[-1].status == 200
    (slot,) = [c for c in puts[-1].json if c["name"] == "slot"]
    assert slot.get("type", 1) == 1  # a chat-input command
    options = slot["options"]
    assert [o["name"] for o in options[:3]] == ["action", "slot_id", "note"]
    action, slot_id, note = options[:3]
    assert action["type"] == 3 and action["required"] is True
    assert [c["value"] for c in action["choices"]] == [
        "complete",
        "abort",
        "pause",
        "resume",
        "defer",
        "cancel",
        "move",
    ]
    assert not action.get("autocomplete")
    assert slot_id["type"] == 3 and slot_id["required"] is True and slot_id["autocomplete"]
    assert note["type"] == 3 and not note.get("required")
    # The extras come after and are optional: Discord's three-option form still works.
    assert {o["name"] for o in options[3:]} == {"minutes", "agent", "when"}
    assert not any(o.get("required") for o in options[3:])
    assert all(o["type"] not in (1, 2) for o in options)  # no sub-commands left


# ---- /schedule ------------------------------------------------------------------


async def test_schedule_of_a_day_is_ordered_by_time_in_the_calendar_time_zone(
    make_moderator_bot: object,
) -> None:
    h: BotHarness = await make_moderator_bot(timezone="Europe/Berlin")  # type: ignore[operator]
    fake = h.fake
    tz = h.settings.tz
    tomorrow = h.bot.clock.now().astimezone(tz).date() + timedelta(days=1)
    made = {}
    for hour, prio in ((9, 50), (8, 20), (10, 90)):
        created = await h.calendar.create_slot(
            SlotCreate(
                agent_id="alice",
                scheduled_at=datetime.combine(tomorrow, time(hour), tz),
                title=f"Task at {hour}",
                priority=prio,
            )
        )
        made[hour] = created.id
    handle = await ask(
        fake, fake.member, general(fake), "schedule", {"agent": "alice", "date": str(tomorrow)}
    )
    assert handle.ephemeral and handle.response_type == DEFERRED_RESPONSE
    text = handle.text()
    assert f"alice — schedule for {tomorrow:%a} {tomorrow.day}" in text
    lines = [ln for ln in text.splitlines() if "prio" in ln]
    assert [ln[:7] for ln in lines] == ["`08:00`", "`09:00`", "`10:00`"]  # Berlin time
    assert all("⏳ not started" in ln for ln in lines)
    assert made[8] in lines[0] and "prio 20" in lines[0] and "prio 90" in lines[2]
    (embed,) = handle.messages()[0]["embeds"]
    assert "Europe/Berlin" in embed["footer"]["text"]


async def test_schedule_defaults_to_today_for_every_agent(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    fake = h.fake
    alice_slot = await h.add_slot("alice", in_s=-1, title="Alice works")
    bob_slot = await h.add_slot("bob", in_s=-1, title="Bob works")
    later = await h.calendar.create_slot(
        SlotCreate(
            agent_id="alice",
            scheduled_at=h.bot.clock.now() + timedelta(days=1),
            title="Tomorrow's",
        )
    )
    await h.wait_wake_channel(alice_slot.id)
    handle = await ask(fake, fake.member, general(fake), "schedule")
    text = handle.text()
    assert handle.ephemeral
    assert alice_slot.id in text and bob_slot.id in text and later.id not in text
    assert "Alice works" in text and "▶️ ongoing" in text
    assert "2 agents" in text
    as_admin = await ask(fake, fake.admin, general(fake), "schedule", {"agent": "bob"})
    assert bob_slot.id in as_admin.text() and alice_slot.id not in as_admin.text()


async def test_bad_dates_and_unknown_agents_get_an_ephemeral_answer_at_once(
    moderator_bot: BotHarness,
) -> None:
    fake = moderator_bot.fake
    where = general(fake)
    for bad in ("31/12/2026", "2026-02-30", "next week"):
        handle = await ask(fake, fake.member, where, "schedule", {"date": bad})
        assert handle.ephemeral and handle.response_type == IMMEDIATE_RESPONSE
        assert "use YYYY-MM-DD" in handle.text()
    for command in ("schedule", "status"):
        handle = await ask(fake, fake.member, where, command, {"agent": "zed"})
        assert handle.ephemeral
        assert "unknown agent 'zed'" in handle.text() and "alice, bob" in handle.text()
    handle = await ask(fake, fake.admin, where, "sync", {"agent": "zed"})
    assert handle.ephemeral and "unknown agent 'zed'" in handle.text()
    assert fake.messages_in(where) == []  # nothing of it landed in the channel


# ---- /status --------------------------------------------------------------------


async def test_status_shows_busy_and_idle_agents_with_the_slot_channel(
    moderator_bot: BotHarness,
) -> None:
    fake = moderator_bot.fake
    slot, channel_id = await moderator_bot.woken_slot("alice", title="Ship the fix")
    handle = await ask(fake, fake.member, general(fake), "status")
    text = handle.text()
    assert handle.ephemeral
    assert "Moderator status" in text and "1 busy, 1 idle" in text
    assert "busy" in text and "Ship the fix" in text and slot.id in text
    assert f"/channels/{fake.guild_id}/{channel_id})" in text  # a link to the wake channel
    assert "Last sync:" in text and "(just now)" in text
    assert "all required permissions" in text and "2 Discord agent(s) are members" in text

    as_admin = await ask(fake, fake.admin, general(fake), "status", {"agent": "alice"})
    assert "Status of alice" in as_admin.text() and "Ship the fix" in as_admin.text()

    one = await ask(fake, fake.member, general(fake), "status", {"agent": "bob"})
    assert "Status of bob" in one.text() and "idle" in one.text()
    assert slot.id not in one.text()


async def test_status_names_missing_permissions_and_agents_outside_the_guild(
    make_fake_discord: MakeFake, tmp_path: Path
) -> None:
    fake = await make_fake_discord(bot_permissions=DEFAULT_BOT_PERMISSIONS & ~P.EMBED_LINKS)
    fake.add_agent("dave", member=False)
    async with running_bot(fake, tmp_path, agents=("alice", "dave")) as h:
        where = general(fake)
        text = (await ask(fake, fake.member, where, "status")).text()
        assert "missing permissions: **Embed Links**" in text
        assert f"agents not in the guild: **dave (user {fake.agents['dave'].id})**" in text
        assert "Manage Channels" not in text

        # Fixing the role is seen at the next /status, without waiting for the cache to age.
        checker = status_cog(h).guild_checker
        assert checker.fresh
        fake.set_bot_permissions(DEFAULT_BOT_PERMISSIONS)
        await fake.wait_for(lambda: not checker.fresh, what="the role update invalidating")
        text = (await ask(fake, fake.member, where, "status")).text()
        assert "Embed Links" not in text and "dave" in text


# ---- /slot ----------------------------------------------------------------------


async def test_slot_complete_by_an_admin_finishes_it_and_tells_the_agent(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    fake = h.fake
    slot, channel_id = await h.woken_slot("alice", title="Ship the fix")
    before = len(h.bot_messages(channel_id))

    handle = await slot_command(fake, fake.admin, "complete", slot.id, note="by hand")
    assert handle.ephemeral
    assert "now ✅ finished" in handle.text() and "Announced in" in handle.text()
    await h.wait_status(slot.id, SlotStatus.FINISHED)

    messages = await h.wait_bot_messages(channel_id, before + 1)
    notice = messages[-1]
    assert slot.id in notice["content"] and "**admin**" in notice["content"]
    assert "/slot complete" in notice["content"] and "Note: by hand" in notice["content"]
    assert notice["mentions"] == [] and notice["mention_roles"] == []
    assert not notice["mention_everyone"]
    assert fake.agents["alice"].mention not in notice["content"]
    assert not h.bot.moderator.status("alice").busy  # the end of the slot freed the agent


async def test_plain_members_may_not_steer(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    fake = h.fake
    slot, channel_id = await h.woken_slot("alice")
    for command, options in (
        ("slot", {"action": "complete", "slot_id": slot.id}),
        ("slot", {"action": "abort", "slot_id": slot.id}),
        ("sync", {}),
    ):
        handle = await ask(fake, fake.member, general(fake), command, options)
        assert handle.ephemeral and handle.response_type == IMMEDIATE_RESPONSE
        assert "Only members with the moderator's admin role or the Manage Server" in handle.text()
    assert (await h.slot(slot.id)).status is SlotStatus.ONGOING
    assert len(h.bot_messages(channel_id)) == 1  # only the wake message

    # Manage Server without the admin role is enough too.
    manager_role = fake.add_role("managers", int(P.MANAGE_GUILD))
    manager = fake.add_member("manager", roles=(manager_role.id,))
    await fake.wait_for(lambda: h.bot.get_guild(fake.guild_id).get_role(manager_role.id))  # type: ignore[union-attr]
    handle = await slot_command(fake, manager, "pause", slot.id)
    assert "now ⏸️ paused" in handle.text()


async def test_unknown_slots_and_refused_transitions_are_explained(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    fake = h.fake
    slot, channel_id = await h.woken_slot("alice")

    handle = await slot_command(fake, fake.admin, "complete", "0123456789abcdef")
    assert handle.ephemeral and "No such slot" in handle.text()

    handle = await slot_command(fake, fake.admin, "resume", slot.id)
    assert handle.ephemeral
    assert f"Cannot resume slot `{slot.id}`: it is ▶️ ongoing" in handle.text()
    assert "works only on paused slots" in handle.text()
    assert (await h.slot(slot.id)).status is SlotStatus.ONGOING

    handle = await slot_command(fake, fake.admin, "complete", "not an id")
    assert "not a slot id" in handle.text()

    handle = await slot_command(fake, fake.admin, "pause", slot.id)
    assert "now ⏸️ paused" in handle.text()
    handle = await slot_command(fake, fake.admin, "resume", slot.id)
    assert "now ▶️ ongoing" in handle.text()
    notices = await h.wait_bot_messages(channel_id, 3)
    assert "/slot pause" in notices[1]["content"] and "/slot resume" in notices[2]["content"]

    # A slot of the wrong agent, when the agent is named.
    handle = await slot_command(fake, fake.admin, "abort", slot.id, agent="bob")
    assert "belongs to alice, not bob" in handle.text()
    assert (await h.slot(slot.id)).status is SlotStatus.ONGOING


async def test_defer_with_minutes_reschedules(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    fake = h.fake
    slot = await h.add_slot("bob", in_s=3 * 3600)
    # `minutes` belongs to defer: with another action it is refused, not quietly dropped.
    handle = await slot_command(fake, fake.admin, "abort", slot.id, minutes=30)
    assert handle.ephemeral and handle.response_type == IMMEDIATE_RESPONSE
    assert "`minutes` goes only with `defer`" in handle.text() and "abort" in handle.text()
    assert (await h.slot(slot.id)).status is SlotStatus.NOT_STARTED
    start = h.bot.clock.now()
    handle = await slot_command(fake, fake.admin, "defer", slot.id, minutes=30)
    end = h.bot.clock.now()
    assert "deferred" in handle.text() and "Not announced" in handle.text()  # never woken
    moved = await h.slot(slot.id)
    assert moved.status is SlotStatus.DEFERRED
    assert start + timedelta(minutes=30) <= moved.scheduled_at <= end + timedelta(minutes=30)


async def test_calendar_trouble_is_explained_not_raised(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    fake = h.fake
    where = general(fake)
    slot, _ = await h.woken_slot("alice")
    await h.calendar.close()  # the real calendar answers CalendarUnavailable from now on
    tomorrow = (h.bot.clock.now() + timedelta(days=1)).date().isoformat()
    for command, options in (
        ("schedule", {"date": tomorrow}),
        ("schedule", {"date": tomorrow, "agent": "alice"}),
        ("slot", {"action": "complete", "slot_id": slot.id}),
    ):
        handle = await ask(fake, fake.admin, where, command, options)
        assert handle.ephemeral
        assert "calendar cannot be reached" in handle.text(), (command, handle.text())


async def test_an_unexpected_failure_gets_an_answer_and_a_logged_traceback(
    moderator_bot: BotHarness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = moderator_bot
    fake = h.fake

    def broken() -> None:
        raise RuntimeError("snapshot exploded")

    monkeypatch.setattr(h.bot.moderator, "statuses", broken)
    with caplog.at_level(logging.ERROR, logger="cogs.interactions"):
        handle = await ask(fake, fake.member, general(fake), "status")
    assert handle.ephemeral and handle.text() == SOMETHING_WENT_WRONG
    assert any(
        r.exc_info and "snapshot exploded" in str(r.exc_info[1].__cause__ or r.exc_info[1])
        for r in caplog.records
    )


# ---- /sync ----------------------------------------------------------------------


async def test_sync_by_an_admin_learns_new_slots_at_once(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    fake = h.fake
    handle = await ask(fake, fake.admin, general(fake), "sync")
    assert handle.ephemeral and "Synced all 2 agent(s)" in handle.text()

    # A slot the bot has not seen (the sync loop runs hourly here): /sync finds and wakes it.
    hidden = await h.calendar.create_slot(
        SlotCreate(agent_id="bob", scheduled_at=h.bot.clock.now() - timedelta(seconds=1))
    )
    assert h.bot.moderator.slot_owner(hidden.id) is None
    handle = await ask(fake, fake.admin, general(fake), "sync", {"agent": "bob"})
    assert "Synced bob" in handle.text()
    assert h.bot.moderator.slot_owner(hidden.id) == "bob"
    await h.wait_wake_channel(hidden.id)


# ---- autocomplete ---------------------------------------------------------------


async def test_every_agent_option_suggests_the_configured_agents(
    moderator_bot: BotHarness,
) -> None:
    fake = moderator_bot.fake
    where = general(fake)
    with_agent = [
        c["name"]
        for c in fake.guild_commands
        if any(o["name"] == "agent" for o in c.get("options", []))
    ]
    assert {"history", "plan", "schedule", "series", "slot", "status", "sync"} <= set(with_agent)
    for name in with_agent:
        choices = await complete(fake, fake.admin, where, name, {"agent": "B"}, "agent")
        assert [c["value"] for c in choices] == ["bob"], name


async def test_autocomplete_offers_agents_and_matching_slots(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    fake = h.fake
    where = general(fake)
    assert await complete(fake, fake.member, where, "status", {"agent": "a"}, "agent") == [
        {"name": "alice", "value": "alice"}
    ]
    everyone = await complete(fake, fake.member, where, "schedule", {"agent": ""}, "agent")
    assert [c["value"] for c in everyone] == ["alice", "bob"]
    dates = await complete(fake, fake.member, where, "schedule", {"date": "tom"}, "date")
    assert [c["value"] for c in dates] == ["tomorrow"]

    held = await h.add_slot("alice", in_s=-1, title="Held one")
    await h.wait_wake_channel(held.id)
    waiting = [await h.add_slot("bob", in_s=-(i + 2), title=f"Bob {i}") for i in range(30)]
    choices = await complete(
        fake, fake.admin, where, "slot", {"action": "complete", "slot_id": ""}, "slot_id"
    )
    assert len(choices) == 25
    # The ones `complete` can move (alice's, and bob's first once woken) come first.
    movable = [" ongoing " in c["name"] for c in choices]
    assert movable == sorted(movable, reverse=True) and movable[0]
    assert held.id in [c["value"] for c in choices[:2]]
    first = next(c for c in choices if c["value"] == held.id)
    assert first["name"].startswith(f"[{held.id[:8]}] alice") and "Held one" in first["name"]

    # The chosen action is read back from the half-filled command: `defer` moves only
    # slots not started yet, so the ongoing one drops out of the 25.
    for_defer = await complete(
        fake, fake.admin, where, "slot", {"action": "defer", "slot_id": ""}, "slot_id"
    )
    assert len(for_defer) == 25 and held.id not in [c["value"] for c in for_defer]
    assert not any(" ongoing " in c["name"] for c in for_defer[:20])
    # No action chosen yet: every open slot in time order.
    unchosen = await complete(fake, fake.admin, where, "slot", {"slot_id": ""}, "slot_id")
    when = {s.id: s.scheduled_at for s in [held, *waiting]}
    times = [when[c["value"]] for c in unchosen]
    assert len(times) == 25 and times == sorted(times)

    target = waiting[7]
    by_prefix = await complete(
        fake, fake.admin, where, "slot", {"action": "defer", "slot_id": target.id[:10]}, "slot_id"
    )
    assert [c["value"] for c in by_prefix] == [target.id]
    only_alice = await complete(
        fake,
        fake.admin,
        where,
        "slot",
        {"action": "abort", "agent": "alice", "slot_id": ""},
        "slot_id",
    )
    assert [c["value"] for c in only_alice] == [held.id]
