"""The wording every surface shares: ages, times, status labels, fitting text to a limit."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.models import SlotStatus
from bot.presenters.formatting import (
    clock_time,
    describe_age,
    escape,
    fit_lines,
    join_names,
    one_line,
    status_label,
)
from tests.presenters.presenter_samples import (
    BERLIN,
    NOW,
    TODAY,
)


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
