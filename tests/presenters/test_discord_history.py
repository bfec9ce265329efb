"""`/history`'s wording: lateness and run time from the slot's own times, and pages that fit
one embed whatever the titles and notes hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.models import Slot, SlotStatus
from bot.presenters.discord_embed import DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT
from bot.presenters.discord_history import (
    PAGE_ENTRIES,
    entry_text,
    history_pages,
    nothing_ended,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")


def ended(
    number: int,
    *,
    late_s: float | None = 120,
    ran_s: float = 900,
    title: str = "Triage",
    note: str | None = "done",
    status: SlotStatus = SlotStatus.FINISHED,
) -> Slot:
    started = None if late_s is None else AT + timedelta(seconds=late_s)
    return Slot(
        id=f"slot-{number}",
        agent_id="ada",
        scheduled_at=AT,
        status=status,
        updated_at=AT,
        title=title,
        started_at=started,
        ended_at=(started or AT) + timedelta(seconds=ran_s),
        note=note,
    )


def test_an_entry_says_lateness_run_time_and_note_in_the_calendar_zone() -> None:
    text = entry_text(ended(1), BERLIN)
    assert "✅ finished Mon 2026-03-02 10:17" in text and "**Triage** (`slot-1`)" in text
    assert "woken 2 min late · ran 15 min · note: done" in text
    assert "woken on time" in entry_text(ended(2, late_s=0.4), BERLIN)
    assert "woken 3 min early" in entry_text(ended(3, late_s=-180), BERLIN)
    never = entry_text(ended(4, late_s=None, note=None, status=SlotStatus.CANCELLED), BERLIN)
    assert "🚫 cancelled" in never and "never woken" in never
    assert "ran" not in never and "note" not in never


def test_hostile_titles_and_notes_are_escaped_flattened_and_cut() -> None:
    text = entry_text(ended(1, title="**x**\n" * 500, note="`a`\n" * 5000), UTC_ZONE)
    assert text.count("\n") == 1 and "\\*\\*x\\*\\*" in text and len(text) < 800


def test_pages_fit_one_embed_each_and_keep_the_order() -> None:
    slots = [ended(n, title="T" * 10_000, note="N" * 100_000) for n in range(57)]
    pages = history_pages(slots, UTC_ZONE, "every agent", 92, AT)
    shown = [s.id for page in pages for s in slots if f"`{s.id}`" in page.description]
    assert shown == [s.id for s in slots]  # every slot once, in the given order
    for number, page in enumerate(pages, start=1):
        assert page.total_chars() <= EMBED_TOTAL_LIMIT
        assert len(page.description) <= DESCRIPTION_LIMIT
        assert page.description.count("(`slot-") <= PAGE_ENTRIES
        assert page.footer is not None and page.footer.startswith(f"Page {number} of {len(pages)}")
    assert history_pages([], UTC_ZONE, "ada", 7, AT) == []
    assert nothing_ended("ada", 1) == "Nothing ended in the last day (ada)."
