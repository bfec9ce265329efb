"""What people type for a time and a repeat: every form DESIGN §7 names, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.when import WhenError, parse_when, repeat_rule

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 28, 10, 0, tzinfo=UTC)  # 11:00 in Berlin, the day before spring DST


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-04-01 09:00", utc("2026-04-01T07:00")),
        ("2026-04-01T9:30", utc("2026-04-01T07:30")),
        ("12:00", utc("2026-03-28T11:00")),  # later today
        ("10:00", utc("2026-03-29T08:00")),  # already past today: tomorrow (now CEST)
        ("tomorrow 09:00", utc("2026-03-29T07:00")),
        ("  Tomorrow   09:00 ", utc("2026-03-29T07:00")),
        ("in 10m", utc("2026-03-28T10:10")),
        ("in 2h", utc("2026-03-28T12:00")),
        ("in 1h 30m", utc("2026-03-28T11:30")),
        ("in 45s", utc("2026-03-28T10:00:45")),
        ("2026-10-25 02:30", utc("2026-10-25T00:30")),  # ambiguous: the first
    ],
)
def test_when_forms(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW, BERLIN) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-03-29 02:30", "does not exist"),
        ("tomorrow 02:30", "does not exist"),
        ("2026-02-30 09:00", "not a date"),
        ("25:00", "not a time of day"),
        ("12:61", "not a time of day"),
        ("in 0m", "more than 0"),
        ("in 99999d", "366 days"),
        ("next tuesday", "not a time"),
        ("", "not a time"),
        ("9" * 10_000, "at most 40"),
        ("in -5m", "not a time"),
        ("1700000000", "not a time"),
        ("2026-03-28 10:59", "in the past"),
    ],
)
def test_when_refusals_say_why(text: str, says: str) -> None:
    with pytest.raises(WhenError) as caught:
        parse_when(text, NOW, BERLIN)
    assert says in str(caught.value)


@given(st.text(max_size=60))
def test_when_never_raises_anything_but_when_error(text: str) -> None:
    try:
        got = parse_when(text, NOW, BERLIN)
    except WhenError:
        return
    assert got.tzinfo is not None and got > NOW


def test_repeat_words() -> None:
    first = datetime(2026, 1, 15, 9, 0)
    assert repeat_rule("daily", first).rule == "FREQ=DAILY"
    assert repeat_rule("Weekdays", first).rule == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    assert repeat_rule("weekly", first).rule == "FREQ=WEEKLY"
    assert repeat_rule("monthly", first).rule == "FREQ=MONTHLY;BYMONTHDAY=15"
    assert repeat_rule("monthly", first).note is None
    assert repeat_rule("rrule:freq=weekly;byday=mo", first).rule == "FREQ=WEEKLY;BYDAY=MO"


def test_monthly_after_the_28th_is_the_last_day_and_says_so() -> None:
    late = repeat_rule("monthly", datetime(2026, 1, 31, 9, 0))
    assert late.rule == "FREQ=MONTHLY;BYMONTHDAY=-1"
    assert late.note is not None and "last day" in late.note


def test_unknown_repeat_is_refused() -> None:
    with pytest.raises(WhenError, match="not a repeat"):
        repeat_rule("fortnightly", datetime(2026, 1, 1))
