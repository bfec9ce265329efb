"""`/plan` and `/series` end to end: the real bot, its embedded calendar, the fake Discord.

The harness runs with `SYNC_INTERVAL_S` = 3600 (the 300 s of the issue would not be
shorter); a planned slot can only be woken on time because the embedded calendar tells
the moderator of the new slot at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.models import SlotStatus
from cogs.interactions import SOMETHING_WENT_WRONG
from tests.cogs.support import ask, complete, general
from tests.e2e.harness import BotHarness

IMMEDIATE_RESPONSE = 4


async def plan(h: BotHarness, **options: Any) -> str:
    handle = await ask(h.fake, h.fake.admin, general(h.fake), "plan", options)
    assert handle.ephemeral
    text = handle.text()
    assert len(text) <= 2000 and "Traceback" not in text and text != SOMETHING_WENT_WRONG, text
    return text


async def stored(h: BotHarness, agent: str) -> tuple[int, int]:
    """How many slots (today and the next 400 days) and series `agent` has in the calendar."""
    now = h.bot.clock.now()
    slots = 0
    for offset in range(0, 400, 90):
        start = now - timedelta(days=1) + timedelta(days=offset)
        slots += len(await h.calendar.list_range(agent, start, start + timedelta(days=90)))
    return slots, len(await h.calendar.list_series(agent))


async def test_plan_creates_a_slot_that_is_woken_on_time(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    text = await plan(h, agent="alice", when="in 2s", title="Look at CI", prompt="Fix it")
    assert "Planned slot" in text and "alice" in text and "Look at CI" in text
    assert "(UTC)" in text and "does not repeat" in text
    slot_id = text.split("`")[1]
    slot = await h.slot(slot_id)
    assert slot.prompt == "Fix it" and slot.priority == 50
    # No sync was asked for: the calendar's change notice brought it to the moderator.
    await h.wait_status(slot_id, SlotStatus.ONGOING)
    channel_id = await h.wait_wake_channel(slot_id)
    assert "Fix it" in h.bot_messages(channel_id)[0]["content"]


async def test_plan_with_repeat_creates_a_series_and_answers_its_next_three_times(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    text = await plan(
        h,
        agent="bob",
        when="2030-01-01 09:00",
        title="Stand-up",
        repeat="weekdays",
        priority=70,
        duration_min=15,
    )
    assert "Planned series" in text and "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR" in text
    assert "Next 3 time(s), in UTC:" in text
    # 2030-01-01 is a Tuesday: Tue, Wed, Thu.
    for shown in ("Tue 2030-01-01 09:00", "Wed 2030-01-02 09:00", "Thu 2030-01-03 09:00"):
        assert shown in text
    (series,) = await h.calendar.list_series("bob")
    assert (
        series.rrule == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR" and series.start == "2030-01-01T09:00:00"
    )
    assert series.priority == 70 and series.estimated_duration_min == 15

    listed = (await ask(h.fake, h.fake.admin, general(h.fake), "series", {"action": "list"})).text()
    assert series.id in listed and "Stand-up" in listed and "Tue 2030-01-01 09:00" in listed

    handle = await ask(
        h.fake, h.fake.admin, general(h.fake), "series", {"action": "end", "series_id": series.id}
    )
    assert "Ended series" in handle.text() and handle.ephemeral
    (ended,) = await h.calendar.list_series("bob")
    assert ended.ended_at is not None
    listed = (
        await ask(
            h.fake, h.fake.admin, general(h.fake), "series", {"action": "list", "agent": "bob"}
        )
    ).text()
    assert "0 running and 1 ended" in listed and "ended" in listed


async def test_monthly_after_the_28th_says_it_means_the_last_day(
    moderator_bot: BotHarness,
) -> None:
    text = await plan(
        moderator_bot, agent="alice", when="2030-01-31 10:00", title="Bills", repeat="monthly"
    )
    assert "last day of each month" in text and "BYMONTHDAY=-1" in text
    assert "Thu 2030-02-28 10:00" in text and "Sun 2030-03-31 10:00" in text


#: (case id, options besides a good agent/when/title, words the answer must hold).
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-agent", {"agent": "zed"}, "unknown agent 'zed'"),
    ("agent-mention", {"agent": "<@123>"}, "unknown agent"),
    ("when-unparsable", {"when": "next blue moon"}, "is not a time"),
    ("when-past", {"when": "2020-01-01 09:00"}, "is in the past"),
    ("when-bad-date", {"when": "2030-02-30 09:00"}, "is not a date"),
    ("when-25h", {"when": "25:00"}, "is not a time of day"),
    ("when-huge", {"when": "9" * 20_000}, "at most 500 characters"),
    ("when-in-0", {"when": "in 0m"}, "more than 0 s"),
    ("priority-101", {"priority": 101}, "priority"),
    ("priority-negative", {"priority": -1}, "priority"),
    ("priority-2^70", {"priority": 2**70}, "priority"),
    ("duration-0", {"duration_min": 0}, "estimated_duration_min"),
    ("title-201", {"title": "t" * 201}, "title"),
    ("prompt-16001", {"prompt": "p" * 16_001}, "prompt"),
    ("repeat-fortnightly", {"repeat": "fortnightly"}, "is not a repeat"),
    ("repeat-minutely", {"repeat": "FREQ=MINUTELY"}, "HOURLY or coarser"),
    ("repeat-bysecond", {"repeat": "FREQ=HOURLY;BYSECOND=5"}, "BYSECOND is not supported"),
    ("repeat-no-instance", {"repeat": "FREQ=DAILY;UNTIL=20200101"}, "yields no instance"),
    ("repeat-garbage", {"repeat": "FREQ=DAILY;;"}, "is not NAME=VALUE"),
]


@pytest.mark.parametrize(("options", "says"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
async def test_refused_plans_are_ephemeral_sentences_and_store_nothing(
    moderator_bot: BotHarness,
    caplog: pytest.LogCaptureFixture,
    options: dict[str, Any],
    says: str,
) -> None:
    h = moderator_bot
    before = await stored(h, "alice")
    good = {"agent": "alice", "when": "2030-01-01 09:00", "title": "T"}
    with caplog.at_level(logging.INFO):
        handle = await ask(h.fake, h.fake.admin, general(h.fake), "plan", {**good, **options})
    text = handle.text()
    assert handle.ephemeral and handle.response_type == IMMEDIATE_RESPONSE, text
    assert says in text and len(text) <= 2000 and text != SOMETHING_WENT_WRONG, text
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert await stored(h, "alice") == before


async def test_a_non_existent_local_time_is_refused(make_moderator_bot: Any) -> None:
    h: BotHarness = await make_moderator_bot(timezone="Europe/Berlin")
    text = await plan(h, agent="alice", when="2030-03-31 02:30", title="In the gap")
    assert "does not exist in Europe/Berlin" in text and "Nothing was planned" in text
    assert await stored(h, "alice") == (0, 0)


async def test_plain_members_may_not_plan_or_end_series(moderator_bot: BotHarness) -> None:
    h = moderator_bot
    fake = h.fake
    for command, options in (
        ("plan", {"agent": "alice", "when": "in 1h", "title": "T"}),
        ("series", {"action": "list"}),
        ("series", {"action": "end", "series_id": "abc"}),
    ):
        handle = await ask(fake, fake.member, general(fake), command, options)
        assert handle.ephemeral and handle.response_type == IMMEDIATE_RESPONSE
        assert "Only members with the moderator's admin role" in handle.text()
    assert await stored(h, "alice") == (0, 0)


async def test_ending_an_unknown_or_another_agents_series_is_explained(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    await plan(h, agent="alice", when="2030-01-01 09:00", title="Daily", repeat="daily")
    (series,) = await h.calendar.list_series("alice")
    for options, says in (
        ({"series_id": "nope"}, "There is no series `nope`"),
        ({"series_id": series.id, "agent": "bob"}, "of bob"),
        ({}, "needs the `series_id`"),
    ):
        handle = await ask(
            h.fake, h.fake.admin, general(h.fake), "series", {"action": "end", **options}
        )
        assert says in handle.text() and "Nothing was changed" in handle.text().replace(
            "nothing", "Nothing"
        )
    assert (await h.calendar.get_series(series.id)).ended_at is None


async def test_schedule_marks_occurrences_over_days_and_draws_a_timeline(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    await plan(h, agent="alice", when="tomorrow 09:00", title="Stand-up", repeat="daily")
    await h.add_slot("alice", in_s=3 * 3600, title="One-off")  # today or tomorrow (UTC)
    where = general(h.fake)
    # From the day after tomorrow: the one-off is never in these three days, whatever the
    # hour the test runs at ("tomorrow" was wrong after 21:00, when it fell tomorrow).
    after_tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    options = {"agent": "alice", "date": after_tomorrow, "days": 3}
    text = (await ask(h.fake, h.fake.admin, where, "schedule", options)).text()
    assert text.count("🔁 **Stand-up**") == 3 and "One-off" not in text, text
    assert "schedule for" in text and " – " in text  # the span of days in the title

    handle = await ask(h.fake, h.fake.member, where, "schedule", {"days": 2, "view": "timeline"})
    assert handle.ephemeral
    (message,) = handle.messages()
    (picture,) = message["attachments"]
    assert picture["filename"] == "timeline.png" and picture["size"] > 1000
    assert message["embeds"][0]["image"]["url"] == "attachment://timeline.png"
    assert "One-off" in handle.text() and "Stand-up" in handle.text()

    for days in (0, 8, 2**40):
        handle = await ask(h.fake, h.fake.member, where, "schedule", {"days": days})
        assert handle.ephemeral and "`days` must be between 1 and 7" in handle.text()


async def test_series_ids_and_agents_autocomplete_for_the_new_commands(
    moderator_bot: BotHarness,
) -> None:
    h = moderator_bot
    where = general(h.fake)
    await plan(h, agent="alice", when="2030-01-01 09:00", title="Stand-up", repeat="daily")
    await plan(h, agent="bob", when="2030-01-01 10:00", title="Review", repeat="weekly")
    (alices,) = await h.calendar.list_series("alice")
    choices = await complete(
        h.fake, h.fake.admin, where, "series", {"action": "end", "series_id": ""}, "series_id"
    )
    assert len(choices) == 2 and all(len(c["name"]) <= 100 for c in choices)
    options = {"action": "end", "agent": "alice", "series_id": ""}
    choices = await complete(h.fake, h.fake.admin, where, "series", options, "series_id")
    assert [c["value"] for c in choices] == [alices.id] and "Stand-up" in choices[0]["name"]
    options = {"action": "end", "series_id": "stand"}
    choices = await complete(h.fake, h.fake.admin, where, "series", options, "series_id")
    assert [c["value"] for c in choices] == [alices.id]
    choices = await complete(h.fake, h.fake.admin, where, "plan", {"agent": "al"}, "agent")
    assert [c["value"] for c in choices] == ["alice"]
    choices = await complete(h.fake, h.fake.admin, where, "plan", {"repeat": "we"}, "repeat")
    assert [c["value"] for c in choices] == ["weekdays", "weekly"]
