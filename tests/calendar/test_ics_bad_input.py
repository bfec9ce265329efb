"""Hostile ICS files (issue 13 "Bad input"): each named with its reason, nothing half-imported.

Files refused whole (not iCalendar, malformed, cut off, 50 MB, 100,000
events, not UTF-8) store nothing; events the calendar cannot keep (too large,
duplicate UID, unknown TZID, all-day, no DTSTART, RRULE finer than hourly)
are listed by UID and reason while the rest is imported. Big files are made
on the fly, and reading them stays within a small, fixed amount of memory.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from bot.calendar.ics.plan import ImportPlan, plan_import
from bot.calendar.ics.read import MAX_EVENTS, IcsFileError
from bot.calendar.store import EmbeddedCalendar
from tests.calendar.conftest import TZ
from tests.calendar.ics_files import vcalendar, vevent, write

AGENT = "alice"
GOOD = vevent("good@example", "DTSTART:20260110T090000Z", "SUMMARY:fine")


async def imported(store: EmbeddedCalendar, path: Path) -> ImportPlan:
    plan = plan_import(path, AGENT, TZ)
    await store.import_batch(AGENT, plan.series, plan.slots)
    return plan


def refused_whole(path: Path) -> str:
    with pytest.raises(IcsFileError) as caught:
        plan_import(path, AGENT, TZ)
    return str(caught.value)


WHOLE_FILES = {
    "json": ('{"events": []}', "not an iCalendar file"),
    "empty": ("", "empty"),
    "cut off": (vcalendar([GOOD]).rsplit("END:VEVENT", 1)[0], "cut off"),
    "end closes nothing": (vcalendar([GOOD]).replace("END:VEVENT", "END:VTODO"), "closes"),
    "line outside": ("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nSUMMARY:x\r\n", "outside"),
    "event outside": ("BEGIN:VEVENT\r\nEND:VEVENT\r\n", "not an iCalendar file"),
}


@pytest.mark.parametrize("name", list(WHOLE_FILES))
async def test_a_malformed_file_imports_nothing(
    name: str, store: EmbeddedCalendar, tmp_path: Path
) -> None:
    text, said = WHOLE_FILES[name]
    path = tmp_path / "bad.ics"
    path.write_text(text, encoding="utf-8", newline="")
    assert said in refused_whole(path)
    assert await store.list_slots() == []


def test_binary_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    png = tmp_path / "picture.ics"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    assert "not an iCalendar file" in refused_whole(png)
    latin = tmp_path / "latin.ics"
    latin.write_bytes(vcalendar([vevent("x", "SUMMARY:caf\xe9")]).encode("latin-1"))
    assert "not UTF-8" in refused_whole(latin)


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.ics"
    with path.open("wb") as file:
        file.write(b"BEGIN:VCALENDAR\r\n")
        file.truncate(50 * 1024 * 1024)
    assert "50.0 MiB" in refused_whole(path)


async def test_100000_events_are_refused_whole(store: EmbeddedCalendar, tmp_path: Path) -> None:
    path = tmp_path / "many.ics"
    events = (
        f"BEGIN:VEVENT\r\nUID:{n}\r\nDTSTART:20260110T090000Z\r\nEND:VEVENT" for n in range(100_000)
    )
    path.write_text(vcalendar(events), encoding="utf-8", newline="")
    assert f"more than {MAX_EVENTS:,} events" in refused_whole(path)
    assert await store.list_slots() == []


async def test_a_10_mb_description_is_named_and_the_rest_imported(
    store: EmbeddedCalendar, tmp_path: Path
) -> None:
    path = tmp_path / "long.ics"
    big = vevent("big@example", "DTSTART:20260110T090000Z", "DESCRIPTION:" + "x" * 10_000_000)
    write(path, big, GOOD)
    tracemalloc.start()
    try:
        plan = plan_import(path, AGENT, TZ)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 1024 * 1024  # read in chunks, never whole
    assert [(r.name, r.reason) for r in plan.refused] == [
        ("UID 'big@example'", "too large: over 256 KiB")
    ]
    await store.import_batch(AGENT, plan.series, plan.slots)
    assert [s.title for s in await store.list_slots()] == ["fine"]


async def test_a_folded_10_mb_description_is_refused_the_same(tmp_path: Path) -> None:
    folded = "DESCRIPTION:" + "\r\n ".join("y" * 74 for _ in range(140_000))
    path = write(
        tmp_path / "folded.ics", vevent("folded@example", "DTSTART:20260110T090000Z", folded)
    )
    plan = plan_import(path, AGENT, TZ)
    assert [r.reason for r in plan.refused] == ["too large: over 256 KiB"]


EVENT_REFUSALS = {
    "all day": (vevent("a", "DTSTART;VALUE=DATE:20260110"), "all-day"),
    "no dtstart": (vevent("b", "SUMMARY:when?"), "no DTSTART"),
    "unknown tzid": (vevent("c", "DTSTART;TZID=Mars/Olympus_Mons:20260110T090000"), "unknown TZID"),
    "minutely": (
        vevent("d", "DTSTART:20260110T090000Z", "RRULE:FREQ=MINUTELY"),
        "finer than hourly",
    ),
    "no uid": (vevent(None, "DTSTART:20260110T090000Z"), "no UID"),
    "long title": (vevent("e", "DTSTART:20260110T090000Z", "SUMMARY:" + "t" * 201), "SUMMARY"),
    "long prompt": (
        vevent("f", "DTSTART:20260110T090000Z", "DESCRIPTION:" + "p" * 16_001),
        "DESCRIPTION",
    ),
    "week long": (vevent("g", "DTSTART:20260110T090000Z", "DURATION:P8D"), "a slot lasts"),
    "bad date": (vevent("h", "DTSTART:2026-01-10"), "DTSTART"),
    "year 9999": (vevent("i", "DTSTART:99991231T230000Z"), "DTSTART"),
    "bad priority": (vevent("j", "DTSTART:20260110T090000Z", "PRIORITY:high"), "PRIORITY"),
    "parser trips": (
        vevent("m", "DTSTART:20260110T090000Z", "CATEGORIES;VALUE=DATE:20260101"),
        "malformed",
    ),
    "rdate": (
        vevent("k", "DTSTART:20260110T090000Z", "RRULE:FREQ=DAILY", "RDATE:20260120T090000Z"),
        "RDATE",
    ),
}


@pytest.mark.parametrize("name", list(EVENT_REFUSALS))
async def test_an_event_it_cannot_keep_is_named_and_skipped(
    name: str, store: EmbeddedCalendar, tmp_path: Path
) -> None:
    event, said = EVENT_REFUSALS[name]
    plan = await imported(store, write(tmp_path / "mixed.ics", event, GOOD))
    ((named, reason),) = [(r.name, r.reason) for r in plan.refused]
    assert said in reason
    assert named.startswith(("UID ", "the event at line "))
    assert [s.title for s in await store.list_slots()] == ["fine"]


async def test_duplicate_uids_keep_the_first(store: EmbeddedCalendar, tmp_path: Path) -> None:
    twin = vevent("good@example", "DTSTART:20260111T090000Z", "SUMMARY:twin")
    plan = await imported(store, write(tmp_path / "twins.ics", GOOD, twin))
    ((named, reason),) = [(r.name, r.reason) for r in plan.refused]
    assert named == "UID 'good@example'" and "duplicate" in reason and "line 4" in reason
    assert [s.title for s in await store.list_slots()] == ["fine"]
