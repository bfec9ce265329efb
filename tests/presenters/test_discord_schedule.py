"""`/schedule`: the day people ask for, and a day of slots within Discord's limits."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.core.models import SlotStatus
from bot.presenters.discord_schedule import AgentDay, BadDate, parse_day, schedule_embed
from tests.presenters.presenter_samples import (
    BERLIN,
    NOW,
    TODAY,
    slot,
    within_limits,
)


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
