"""The words people read: schedules, status, slot changes, and Discord's size limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.guild_report import AgentNotInGuild, GuildReport
from bot.core.models import Action, Slot, SlotStatus
from bot.core.status import AgentActivity, AgentSnapshot, CurrentSlot, NextSlot, WakeInfo
from bot.presenters.discord_embed import (
    CHOICE_NAME_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_COUNT_LIMIT,
    FIELD_VALUE_LIMIT,
    EmbedSpec,
)
from bot.presenters.discord_schedule import AgentDay, BadDate, parse_day, schedule_embed
from bot.presenters.discord_slot import (
    refusal_text,
    slot_change_notice,
    slot_change_reply,
    slot_choice,
)
from bot.presenters.discord_status import failed_attempts, status_embed
from bot.presenters.formatting import (
    clock_time,
    describe_age,
    escape,
    fit_lines,
    join_names,
    one_line,
    status_label,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 13:00 in Berlin
TODAY = date(2026, 3, 2)


def slot(
    slot_id: str,
    at: datetime,
    *,
    agent: str = "alice",
    status: SlotStatus = SlotStatus.NOT_STARTED,
    title: str = "Review",
    priority: int = 50,
) -> Slot:
    return Slot(
        id=slot_id,
        agent_id=agent,
        scheduled_at=at,
        status=status,
        title=title,
        priority=priority,
        updated_at=at,
    )


def snapshot(agent: str = "alice", **fields: object) -> AgentSnapshot:
    values: dict[str, object] = {
        "agent_id": agent,
        "as_of": NOW,
        "state": AgentActivity.IDLE,
        "current": None,
        "next_due": None,
        "last_sync_at": NOW - timedelta(minutes=3),
        "last_sync_age_s": 180.0,
        "last_sync_error": None,
        "last_sync_error_at": None,
        "consecutive_sync_failures": 0,
        "pending_count": 0,
        "deferred_count": 0,
        "session_deferred_count": 0,
        "last_wake": None,
        "consecutive_wake_failures": 0,
        "wake_retry_at": None,
    }
    values.update(fields)
    return AgentSnapshot(**values)  # type: ignore[arg-type]


def text_of(spec: EmbedSpec) -> str:
    parts = [spec.title, spec.description, spec.footer or ""]
    for fld in spec.fields:
        parts += [fld.name, fld.value]
    return "\n".join(parts)


def within_limits(spec: EmbedSpec) -> None:
    assert spec.total_chars() <= EMBED_TOTAL_LIMIT
    assert len(spec.fields) <= FIELD_COUNT_LIMIT
    assert len(spec.title) <= 256 and len(spec.description) <= 4096
    assert all(len(f.value) <= FIELD_VALUE_LIMIT and len(f.name) <= 256 for f in spec.fields)
    assert all(f.value and f.name for f in spec.fields)


# ---- small pieces ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "just now"),
        (9, "just now"),
        (42, "42 s ago"),
        (180, "3 min ago"),
        (3600, "1 h ago"),
        (2 * 3600 + 5 * 60, "2 h 5 min ago"),
        (3 * 86400 + 4 * 3600, "3 d 4 h ago"),
        (-300, "in 5 min"),
    ],
)
def test_ages_read_like_people_say_them(seconds: float, text: str) -> None:
    assert describe_age(seconds) == text


def test_times_are_shown_in_the_calendar_time_zone() -> None:
    assert clock_time(NOW, BERLIN) == "13:00"
    assert clock_time(NOW, ZoneInfo("UTC")) == "12:00"
    # Another day than the one shown gets its date.
    assert clock_time(NOW - timedelta(days=1), BERLIN, TODAY) == "Mar 1 13:00"


def test_status_labels_carry_emoji_and_word() -> None:
    assert status_label(SlotStatus.ONGOING) == "▶️ ongoing"
    assert status_label(SlotStatus.NOT_STARTED) == "⏳ not started"
    assert len({status_label(s).split()[0] for s in SlotStatus}) == len(SlotStatus)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        (None, TODAY),
        ("", TODAY),
        ("today", TODAY),
        (" Tomorrow ", TODAY + timedelta(days=1)),
        ("yesterday", TODAY - timedelta(days=1)),
        ("2026-12-31", date(2026, 12, 31)),
    ],
)
def test_days_people_may_ask_for(text: str | None, day: date) -> None:
    assert parse_day(text, TODAY) == day


@pytest.mark.parametrize("text", ["31/12/2026", "2026-02-30", "20261231", "next week", "`x`"])
def test_a_bad_day_says_which_format_to_use(text: str) -> None:
    with pytest.raises(BadDate, match="use YYYY-MM-DD"):
        parse_day(text, TODAY)


def test_titles_cannot_break_the_markdown() -> None:
    assert escape("**bold** `code`\nnext line") == r"\*\*bold\*\* \`code\` next line"
    assert escape("x" * 100, 10) == "x" * 9 + "…"


def test_one_line_flattens_whitespace_then_cuts() -> None:
    assert one_line("  a\n\tb   c ", 10) == "a b c"
    assert one_line("word " * 10, 8) == "word wo…"


@given(st.text(max_size=300), st.integers(min_value=1, max_value=200))
def test_one_line_is_one_line_within_its_limit(text: str, limit: int) -> None:
    shown = one_line(text, limit)
    assert len(shown) <= limit
    assert shown == " ".join(shown.split())


def test_fit_lines_keeps_whole_lines_and_counts_the_rest() -> None:
    lines = [f"line {i:02d}" for i in range(10)]
    text, shown = fit_lines(lines, 40)
    assert len(text) <= 40
    assert text.splitlines()[:shown] == lines[:shown]
    assert text.endswith(f"… and {10 - shown} more")
    assert fit_lines(lines, 1000) == ("\n".join(lines), 10)


@given(
    st.lists(st.text(min_size=0, max_size=80), max_size=60), st.integers(min_value=1, max_value=900)
)
def test_fit_lines_never_exceeds_its_limit(lines: list[str], limit: int) -> None:
    text, shown = fit_lines(lines, limit)
    assert len(text) <= limit
    assert 0 <= shown <= len(lines)


def test_join_names_within_limit() -> None:
    names = [f"agent-{i}" for i in range(200)]
    text = join_names(names, 100)
    assert len(text) <= 100 and text.startswith("agent-0, agent-1") and "more" in text


# ---- /schedule -------------------------------------------------------------------


def test_one_agents_schedule_is_ordered_by_time_with_status_and_priority() -> None:
    slots = [
        slot("late", NOW + timedelta(hours=2), title="Late", priority=10),
        slot("early", NOW - timedelta(hours=1), status=SlotStatus.FINISHED, title="Early"),
        slot("mid-low", NOW, title="Mid low", priority=20),
        slot("mid-high", NOW, title="Mid high", priority=90, status=SlotStatus.ONGOING),
    ]
    spec = schedule_embed([AgentDay("alice", slots)], TODAY, BERLIN)
    within_limits(spec)
    assert "alice" in spec.title and "Mon 2 Mar 2026" in spec.title
    body = spec.description.splitlines()
    order = [
        next(s for s in ("early", "mid-high", "mid-low", "late") if f"`{s}`" in ln)
        for ln in body
        if "`" in ln and "prio" in ln
    ]
    assert order == ["early", "mid-high", "mid-low", "late"]
    assert "`12:00` ✅ finished — **Early**" in spec.description  # Berlin time
    assert "▶️ ongoing" in spec.description and "prio 90" in spec.description
    assert "Europe/Berlin" in (spec.footer or "")


def test_an_empty_day_says_so() -> None:
    spec = schedule_embed([AgentDay("alice", [])], TODAY, BERLIN)
    assert "No slots on 2026-03-02" in spec.description


def test_every_agents_schedule_fits_discord_limits_and_says_how_many_more() -> None:
    days = [
        AgentDay(
            f"agent-{a:03d}",
            [
                slot(
                    f"s{a}-{i}", NOW + timedelta(minutes=i), agent=f"agent-{a:03d}", title="T" * 60
                )
                for i in range(30)
            ],
        )
        for a in range(60)
    ]
    days.append(AgentDay("idle-one", []))
    spec = schedule_embed(days, TODAY, BERLIN)
    within_limits(spec)
    assert "… and" in (spec.footer or "") and "more agent(s)" in (spec.footer or "")
    assert any("… and" in f.value and "more" in f.value for f in spec.fields)  # per-agent cut
    assert spec.fields[-1].name == "No slots" and "idle-one" in spec.fields[-1].value


def test_a_calendar_error_for_one_agent_is_shown_not_hidden() -> None:
    days = [AgentDay("alice", [slot("a", NOW)]), AgentDay("bob", error="calendar away")]
    spec = schedule_embed(days, TODAY, BERLIN)
    bob = next(f for f in spec.fields if f.name.startswith("bob"))
    assert "calendar away" in bob.value


# ---- /status ----------------------------------------------------------------------


def test_a_busy_overdue_agent_with_failures_is_described_fully() -> None:
    snap = snapshot(
        state=AgentActivity.BUSY,
        current=CurrentSlot(
            id="cur-1",
            title="Ship it",
            status=SlotStatus.ONGOING,
            reference="123",
            overdue=True,
            last_activity_at=NOW - timedelta(hours=1),
        ),
        next_due=NextSlot(id="nx-1", title="Next one", priority=80, at=NOW + timedelta(minutes=5)),
        pending_count=3,
        deferred_count=1,
        session_deferred_count=2,
        consecutive_sync_failures=2,
        last_sync_error="CalendarUnavailable: down",
        last_sync_error_at=NOW - timedelta(minutes=1),
        last_wake=WakeInfo(
            at=NOW - timedelta(minutes=2),
            slot_id="w-1",
            ok=False,
            via="discord",
            reference=None,
            error="403 Missing Access",
        ),
        consecutive_wake_failures=2,
        wake_retry_at=NOW + timedelta(minutes=4),
    )
    spec = status_embed([snap], BERLIN, links={"cur-1": "[#alice-cur](https://x/1)"}, guild=None)
    text = text_of(spec)
    within_limits(spec)
    assert spec.title == "Status of alice"
    assert "busy" in text and "Ship it" in text and "[#alice-cur](https://x/1)" in text
    assert "overdue" in text and "silent since 12:00 (1 h ago)" in text
    assert "Next: **Next one** (`nx-1`) at 13:05 (in 5 min) · prio 80" in text
    assert "Pending: 3 (1 deferred, 2 waiting until the agent is idle)" in text
    assert "Last sync: 12:57 (3 min ago)" in text
    assert "sync failing: 2 in a row" in text and "down" in text
    assert "❌ `w-1` failed via discord" in text and "403 Missing Access" in text
    assert "retry at 13:04 (in 4 min)" in text
    assert "not checked yet" in text
    assert spec.color == 0xE67E22


def test_a_claim_failing_while_syncs_work_shows_with_its_time() -> None:
    snap = snapshot(
        last_calendar_error="claim s-9: CalendarUnavailable: POST start timed out",
        last_calendar_error_at=NOW - timedelta(minutes=2),
    )
    assert not snap.healthy
    spec = status_embed([snap], BERLIN)
    text = text_of(spec)
    assert (
        "⚠️ calendar failing during checks, last at 12:58 (2 min ago): "
        "claim s-9: CalendarUnavailable: POST start timed out"
    ) in text
    assert "sync failing" not in text  # the syncs themselves are fine
    assert spec.color == 0xE67E22
    many = status_embed([snap, snapshot("bob")], BERLIN)
    assert "trouble: alice" in many.description
    calm = text_of(status_embed([snapshot()], BERLIN))
    assert "calendar failing" not in calm


def test_a_wake_that_fell_back_says_why_the_first_waker_failed() -> None:
    wake = WakeInfo(
        at=NOW - timedelta(minutes=1),
        slot_id="w-2",
        ok=True,
        via="spawn",
        reference="wake-1",
        error=None,
        attempts=(
            "discord: missing Manage Channels",
            "webhook: not configured for alice",
            "spawn: ok",
        ),
    )
    assert failed_attempts(wake) == ["discord: missing Manage Channels"]
    text = text_of(status_embed([snapshot(last_wake=wake)], BERLIN))
    assert (
        "Last wake: ✅ `w-2` via spawn, 12:59 (1 min ago); "
        "before it: discord: missing Manage Channels"
    ) in text
    assert "webhook" not in text  # not configured for the agent: never tried
    plain = WakeInfo(
        at=NOW,
        slot_id="w-3",
        ok=True,
        via="discord",
        reference="1",
        error=None,
        attempts=("discord: ok",),
    )
    plain_text = text_of(status_embed([snapshot(last_wake=plain)], BERLIN))
    assert "Last wake: ✅ `w-3` via discord, 13:00 (just now)" in plain_text
    assert "before it" not in plain_text


def test_an_idle_agent_and_a_due_slot() -> None:
    snap = snapshot(
        next_due=NextSlot(id="d", title="Due", priority=50, at=NOW - timedelta(minutes=2))
    )
    text = text_of(status_embed([snap], BERLIN))
    assert "idle" in text and "due since 12:58 (2 min ago)" in text and "Last sync" in text


def test_the_guild_check_shows_missing_permissions_and_absent_agents() -> None:
    report = GuildReport(
        guild_id=1,
        checked_at=NOW - timedelta(minutes=1),
        missing_permissions=("Embed Links",),
        non_members=(AgentNotInGuild("dave", 42),),
    )
    text = text_of(status_embed([snapshot(), snapshot("bob")], BERLIN, guild=report))
    assert "missing permissions: **Embed Links**" in text
    assert "agents not in the guild: **dave (user 42)**" in text
    assert "(checked 1 min ago)" in text
    good = GuildReport(guild_id=1, checked_at=NOW)
    assert "all required permissions" in text_of(status_embed([snapshot()], BERLIN, guild=good))


def test_many_agents_fit_with_and_n_more() -> None:
    snaps = [
        snapshot(f"agent-{i:03d}", last_sync_error="x" * 300, consecutive_sync_failures=1)
        for i in range(80)
    ]
    spec = status_embed(snaps, BERLIN, guild=GuildReport(guild_id=1, checked_at=NOW))
    within_limits(spec)
    assert any(f.name.startswith("… and ") for f in spec.fields)
    assert spec.fields[-1].name == "Discord set-up"


# ---- /slot ----------------------------------------------------------------------


def test_a_refusal_says_what_the_slot_is_and_what_would_work() -> None:
    now_ongoing = slot("s1", NOW, status=SlotStatus.ONGOING)
    text = refusal_text(
        Action.RESUME, "s1", code="invalid_transition", detail="x", slot=now_ongoing
    )
    assert "Cannot resume slot `s1`" in text and "▶️ ongoing" in text and "paused" in text
    busy = refusal_text(Action.RESUME, "s1", code="agent_busy", detail="x", slot=now_ongoing)
    assert "another ongoing or paused slot" in busy


def test_the_announcement_names_the_person_and_the_slot_and_mentions_nobody() -> None:
    done = slot("s1", NOW, status=SlotStatus.FINISHED, title="Ship <@123> @everyone")
    text = slot_change_notice(done, Action.COMPLETE, "Ada", note="by hand", tz=BERLIN)
    assert "**Ada**" in text and "`s1`" in text and "/slot complete" in text
    assert "✅ finished" in text and "Note: by hand" in text
    deferred = slot("s2", NOW + timedelta(minutes=30), status=SlotStatus.DEFERRED)
    assert "Rescheduled for 13:30" in slot_change_notice(
        deferred, Action.DEFER, "Ada", note=None, tz=BERLIN
    )
    pressed = slot_change_notice(done, Action.ABORT, "Ada", note=None, tz=BERLIN, via="button")
    assert "**Ada** pressed the Abort button" in pressed and "Please stop working on it." in pressed
    reply = slot_change_reply(done, Action.COMPLETE, BERLIN, announced_in="[#c](u)")
    assert "completed" in reply and "Announced in [#c](u)" in reply
    assert "Not announced" in slot_change_reply(done, Action.COMPLETE, BERLIN, announced_in=None)


def test_slot_choices_fit_discord() -> None:
    long = slot("0123456789abcdef", NOW, title="word " * 50)
    name, value = slot_choice(long, BERLIN, TODAY)
    assert value == "0123456789abcdef"
    assert len(name) <= CHOICE_NAME_LIMIT and name.startswith("[01234567] alice 13:00")
