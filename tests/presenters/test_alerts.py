"""The alert channel's wording: what a person on duty reads, within Discord's 2,000 characters."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.alerts import Alert, AlertKind, AlertSummary
from bot.presenters.alerts import MESSAGE_LIMIT, alert_text, notice_text, summary_text

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def slot_alert(kind: AlertKind, detail: str = "boom", slot: str = "alice-1") -> Alert:
    return Alert(kind=kind, at=AT, agent_id="alice", slot_id=slot, detail=detail)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        (AlertKind.MISFIRE, "aborted instead of being woken late"),
        (AlertKind.WAKE_FAILED, "every waker"),
        (AlertKind.STUCK_ABORTED, "freeing the agent"),
    ],
)
def test_slot_alerts_name_agent_slot_and_what_was_done(kind: AlertKind, words: str) -> None:
    text = alert_text(slot_alert(kind))
    assert "**alice**" in text and "`alice-1`" in text and "boom" in text
    assert words in text


def test_calendar_alerts_say_for_how_long_and_how_many() -> None:
    down = Alert(
        kind=AlertKind.CALENDAR_DOWN,
        at=AT,
        since=AT - timedelta(minutes=20),
        agents_affected=3,
        agents_total=4,
        detail="ConnectError: refused",
    )
    text = alert_text(down)
    assert "20 min" in text and "3 of 4 agent(s)" in text and "ConnectError" in text
    back = Alert(kind=AlertKind.CALENDAR_BACK, at=AT, since=AT - timedelta(minutes=25))
    assert "25 min" in alert_text(back) and "reachable again" in alert_text(back)


@pytest.mark.parametrize(
    "detail",
    [
        "x" * 100_000,
        "line\n" * 5000,
        "@everyone <@&123> <@456> **bold** `code` ||spoiler||",
        "\u202e" * 3000,
        "",
    ],
)
def test_hostile_details_stay_within_the_limit_on_one_line(detail: str) -> None:
    for kind in (AlertKind.MISFIRE, AlertKind.WAKE_FAILED, AlertKind.STUCK_ABORTED):
        text = alert_text(slot_alert(kind, detail, slot="`" * 500 + "x" * 5000))
        assert len(text) <= MESSAGE_LIMIT
        assert "\n" not in text
        # a slot id cannot break out of its code span (the detail's backticks are escaped)
        assert len(re.findall(r"(?<!\\)`", text)) == 2
    down = Alert(kind=AlertKind.CALENDAR_DOWN, at=AT, detail=detail, agents_affected=1)
    assert len(alert_text(down)) <= MESSAGE_LIMIT


def test_markdown_in_a_detail_is_escaped() -> None:
    text = alert_text(slot_alert(AlertKind.WAKE_FAILED, "**bold** __u__"))
    assert "\\*\\*bold\\*\\*" in text


def test_a_summary_counts_by_kind_and_fits_its_examples() -> None:
    examples = tuple(
        slot_alert(AlertKind.WAKE_FAILED, slot=f"alice-{i:04d}" + "y" * 80) for i in range(200)
    )
    summary = AlertSummary(
        at=AT,
        count=215,
        by_kind=((AlertKind.WAKE_FAILED, 200), (AlertKind.MISFIRE, 15)),
        examples=examples,
    )
    text = summary_text(summary)
    assert text.startswith("📋 **215 more alert(s)**")
    assert "200 × wake failed, 15 × misfire" in text
    assert "alice-0000" in text and "… and" in text
    assert len(text) <= MESSAGE_LIMIT
    assert notice_text(summary) == text
    assert notice_text(examples[0]) == alert_text(examples[0])
