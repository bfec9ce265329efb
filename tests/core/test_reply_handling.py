"""The one reply path (DESIGN §6) on the real calendar and moderator, with its answers' words."""

from __future__ import annotations

import io

from bot.app.demo.agents import DemoReplies
from bot.app.demo.story import SlotRecord, Story
from bot.calendar.store import EmbeddedCalendar
from bot.core.models import Action, SlotStatus
from bot.core.reply_handling import (
    AgentNotConfigured,
    CalendarFailed,
    HandlingFailed,
    NotTheAgent,
    ProgressNotRecorded,
    ProgressRecorded,
    ReplyApplied,
    ReplyAuthor,
    ReplyHandler,
    ReplyRefused,
    SlotGone,
)
from bot.core.reply_words import parse_reply
from bot.presenters.reply_answers import acknowledgement, answer_text, reply_word
from testkit.calendars import CallFault, FaultyCalendar
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import ADA, START, Harness, add_slot

ADA_ON_DISCORD = ReplyAuthor(discord_user_id=ADA.discord_user_id)
ADA_IN_DEMO = ReplyAuthor(agent_id=ADA.id)


async def woken(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> tuple[ReplyHandler, str]:
    """ada's slot, woken (ONGOING), and the reply path of a moderator that woke it."""
    slot = await add_slot(calendar, "ada", START, title="Write the report")
    moderator = await harness.moderator(RecordingWaker(clock))
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.ONGOING
    return ReplyHandler(moderator), slot.id


async def test_a_reply_word_moves_the_slot_and_is_acknowledged_quietly(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    replies, slot_id = await woken(harness, clock, calendar)

    outcome = await replies.handle("ada", slot_id, ADA_ON_DISCORD, "**DONE**: shipped it")

    assert isinstance(outcome, ReplyApplied)
    assert (outcome.action, outcome.note) == (Action.COMPLETE, "shipped it")
    assert outcome.slot.status is SlotStatus.FINISHED
    assert (await calendar.get_slot(slot_id)).status is SlotStatus.FINISHED
    assert replies.should_answer(outcome) and replies.should_answer(outcome)  # never throttled
    text = answer_text(outcome)
    assert text == (
        "✅ Recorded: **Write the report** is finished. Nothing more is needed here.\n> shipped it"
    )
    assert parse_reply(text).is_progress  # an agent cannot read it as a reply word
    assert "<@" not in text


async def test_pause_then_resume_are_each_acknowledged(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    replies, slot_id = await woken(harness, clock, calendar)

    paused = await replies.handle("ada", slot_id, ADA_IN_DEMO, "pause\nwaiting for CI")
    resumed = await replies.handle("ada", slot_id, ADA_IN_DEMO, "RESUME")

    assert isinstance(paused, ReplyApplied) and paused.slot.status is SlotStatus.PAUSED
    assert isinstance(resumed, ReplyApplied) and resumed.slot.status is SlotStatus.ONGOING
    assert answer_text(paused) == (
        "⏸️ Recorded: **Write the report** is paused. Write `RESUME` here to carry on.\n"
        "> waiting for CI"
    )
    assert answer_text(resumed) == "▶️ Recorded: **Write the report** is ongoing again."


async def test_progress_keeps_the_slot_and_gets_no_answer(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    replies, slot_id = await woken(harness, clock, calendar)

    outcome = await replies.handle("ada", slot_id, ADA_ON_DISCORD, "Done with step 1, now tests")

    assert outcome == ProgressRecorded(slot_id, "Done with step 1, now tests", held=True)
    assert answer_text(outcome) is None and not replies.should_answer(outcome)
    assert (await calendar.get_slot(slot_id)).status is SlotStatus.ONGOING


async def test_only_the_slots_own_agent_steers_it(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    replies, slot_id = await woken(harness, clock, calendar)

    strangers = [ReplyAuthor(discord_user_id=4242), ReplyAuthor(agent_id="bob"), ReplyAuthor()]
    outcomes = [await replies.handle("ada", slot_id, who, "DONE") for who in strangers]
    gone = await replies.handle("carl", slot_id, ADA_IN_DEMO, "DONE")

    assert outcomes == [NotTheAgent(slot_id, "ada")] * 3
    assert gone == AgentNotConfigured(slot_id, "carl")
    assert all(answer_text(o) is None for o in [*outcomes, gone])
    assert (await calendar.get_slot(slot_id)).status is SlotStatus.ONGOING


async def test_a_refusal_is_explained_at_most_once_a_minute_per_slot(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    replies, slot_id = await woken(harness, clock, calendar)
    await replies.handle("ada", slot_id, ADA_ON_DISCORD, "DONE")

    again = await replies.handle("ada", slot_id, ADA_ON_DISCORD, "DONE: again")
    abort = await replies.handle("ada", slot_id, ADA_ON_DISCORD, "ABORT")

    assert isinstance(again, ReplyRefused) and isinstance(abort, ReplyRefused)
    assert answer_text(again) == (
        "ℹ️ Not applied: `DONE` is not possible while the slot is FINISHED; "
        "it has already ended, so nothing more is needed here."
    )
    assert replies.should_answer(again)
    assert not replies.should_answer(abort)  # within the minute
    await clock.advance(61)
    assert replies.should_answer(abort)
    assert replies.should_answer(HandlingFailed("another-slot"))  # per slot, not global
    assert (await calendar.get_slot(slot_id)).status is SlotStatus.FINISHED


async def test_only_a_word_not_applied_or_our_own_failure_is_explained(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    replies, _ = await woken(harness, clock, calendar)

    explained = [
        SlotGone("gone", Action.ABORT),
        CalendarFailed("down", Action.COMPLETE, "no answer"),
        HandlingFailed("bug"),
    ]
    quiet = [
        NotTheAgent("chatter", "ada"),
        AgentNotConfigured("orphan", "carl"),
        ProgressRecorded("alive", "step 1", held=True),
        ProgressNotRecorded("lost", "no answer"),
    ]

    assert [replies.should_answer(o) for o in explained] == [True] * 3
    assert [replies.should_answer(o) for o in quiet] == [False] * 4
    # Alike fields, different outcomes: the kind is part of what happened.
    assert NotTheAgent("s", "ada") != AgentNotConfigured("s", "ada")


async def test_a_missing_slot_and_a_calendar_outage_are_said(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    outage = FaultyCalendar(calendar, clock)
    slot = await add_slot(calendar, "ada", START, title="Write the report")
    moderator = await harness.moderator(RecordingWaker(clock), calendar=outage)
    replies = ReplyHandler(moderator)

    missing = await replies.handle("ada", "no-such-slot", ADA_IN_DEMO, "ABORT")
    outage.fail(CallFault())
    failed = await replies.handle("ada", slot.id, ADA_IN_DEMO, "complete - shipped")
    outage.heal()

    assert missing == SlotGone("no-such-slot", Action.ABORT)
    assert answer_text(missing) == (
        "ℹ️ Not applied: this channel's slot is no longer in the calendar."
    )
    assert isinstance(failed, CalendarFailed) and failed.action is Action.COMPLETE
    text = answer_text(failed)
    assert text is not None and text.startswith("⚠️ Couldn't record `DONE` just now")
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.ONGOING


def test_the_reply_word_of_each_action_is_the_one_agents_are_told_to_write() -> None:
    assert [reply_word(a) for a in (Action.COMPLETE, Action.ABORT, Action.PAUSE)] == [
        "DONE",
        "ABORT",
        "PAUSE",
    ]
    assert reply_word(Action.RESUME) == "RESUME"


async def test_an_acknowledgement_cuts_a_long_note_to_one_line(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    _, slot_id = await woken(harness, clock, calendar)
    slot = await calendar.get_slot(slot_id)
    text = acknowledgement(slot, "line one\nline two " + "x" * 500)
    quoted = text.split("\n> ", 1)[1]
    assert "\n" not in quoted and len(quoted) <= 200 and quoted.startswith("line one line two")


async def test_the_demo_posts_what_the_bot_posts_for_the_same_reply(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    first = await add_slot(calendar, "ada", START, title="Write the report")
    second = await add_slot(calendar, "ada", START, title="Write the report", priority=10)
    moderator = await harness.moderator(RecordingWaker(clock))
    # The bot's path (cogs/replies.py): handle, then post the answer if one is due.
    bot_side = ReplyHandler(moderator)
    outcome = await bot_side.handle("ada", first.id, ADA_ON_DISCORD, "DONE: shipped")
    assert bot_side.should_answer(outcome)
    posted = answer_text(outcome)
    await clock.advance(0)
    assert (await calendar.get_slot(second.id)).status is SlotStatus.ONGOING
    # The demo's path, for the same reply on an identical slot.
    out = io.StringIO()
    records: dict[str, SlotRecord] = {}
    demo = DemoReplies(moderator, Story(out, START, clock), records, {"#ada": ("ada", second.id)})
    await demo.post("#ada", "ada", "DONE: shipped")

    assert posted is not None
    printed = [line.split("s  ", 1)[1] for line in out.getvalue().splitlines()[:2]]
    assert printed == ["[#ada] ada: DONE: shipped", f"[#ada] moderator: {posted.splitlines()[0]}"]
    assert out.getvalue().splitlines()[2].strip() == posted.splitlines()[1] == "> shipped"
