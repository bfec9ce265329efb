"""Importing ICS (DESIGN §10): keyed by (agent, UID, RECURRENCE-ID), again means update.

Run on the embedded calendar and on a served one (the real server on loopback,
the file sent by the client), with the same file and the same answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.client.ics import upload_ics
from bot.calendar.ics.convert import stable_id
from bot.calendar.ics.outcome import ImportOutcome
from bot.calendar.ics.plan import plan_import
from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.calendar.store.imports import HISTORY_NOTE
from bot.core.models import SlotStatus
from tests.calendar.conftest import START, TOKEN, TZ
from tests.calendar.ics_files import vevent, write

AGENT = "alice"
BERLIN = ZoneInfo("Europe/Berlin")
Importer = Callable[[Path], Awaitable[ImportOutcome]]


@pytest.fixture(params=["embedded", "served"])
async def importer(
    request: pytest.FixtureRequest, store: EmbeddedCalendar
) -> AsyncIterator[Importer]:
    if request.param == "embedded":

        async def embedded(path: Path) -> ImportOutcome:
            plan = plan_import(path, AGENT, store.timezone)
            outcome = await store.import_batch(AGENT, plan.series, plan.slots)
            outcome.skipped[:0] = [(r.name, r.reason) for r in plan.refused]
            return outcome

        yield embedded
        return
    runner, port = await start_server(store, "127.0.0.1", 0, token=TOKEN)

    async def served(path: Path) -> ImportOutcome:
        return await upload_ics(f"http://127.0.0.1:{port}", TOKEN, AGENT, path)

    try:
        yield served
    finally:
        await runner.cleanup()


def plan_file(tmp_path: Path, title: str = "stand-up") -> Path:
    return write(
        tmp_path / "plan.ics",
        vevent(
            "one@example",
            "DTSTART;TZID=Asia/Shanghai:20260106T100000",
            "DURATION:PT45M",
            "SUMMARY:review",
            "DESCRIPTION:look at the PRs",
            "PRIORITY:2",
        ),
        vevent(
            "daily@example",
            "DTSTART;TZID=Europe/Berlin:20260106T090000",
            "DTEND;TZID=Europe/Berlin:20260106T091500",
            "RRULE:FREQ=DAILY;COUNT=10",
            "EXDATE;TZID=Europe/Berlin:20260108T090000",
            f"SUMMARY:{title}",
        ),
        vevent(
            "daily@example",
            "RECURRENCE-ID;TZID=Europe/Berlin:20260107T090000",
            "DTSTART;TZID=Europe/Berlin:20260107T110000",
            "SUMMARY:late stand-up",
        ),
        vevent("past@example", "DTSTART:20251201T080000Z", "SUMMARY:last month"),
        vevent(
            "gone@example", "DTSTART:20260110T080000Z", "SUMMARY:called off", "STATUS:CANCELLED"
        ),
    )


async def test_import_then_again_updates_never_duplicates(
    importer: Importer, store: EmbeddedCalendar, tmp_path: Path
) -> None:
    first = await importer(plan_file(tmp_path))
    assert (first.created, first.updated, first.skipped) == (5, 0, [])
    single = await store.get_slot(stable_id(AGENT, "one@example"))
    assert single.scheduled_at == datetime(2026, 1, 6, 10, tzinfo=TZ)
    assert (single.title, single.prompt, single.priority) == ("review", "look at the PRs", 80)
    assert single.estimated_duration_min == 45
    series = await store.get_series(stable_id(AGENT, "daily@example"))
    assert (series.start, series.timezone, series.exdates) == (
        "2026-01-06T09:00:00",
        "Europe/Berlin",
        ["2026-01-08T09:00:00"],
    )
    assert series.estimated_duration_min == 15
    moved = await store.get_slot(f"{series.id}_20260107T090000")
    assert moved.title == "late stand-up" and moved.series_id == series.id
    assert moved.scheduled_at == datetime(2026, 1, 7, 11, tzinfo=BERLIN)
    past = await store.get_slot(stable_id(AGENT, "past@example"))
    assert (past.status, past.note) == (SlotStatus.FINISHED, HISTORY_NOTE)
    gone = await store.get_slot(stable_id(AGENT, "gone@example"))
    assert gone.status is SlotStatus.CANCELLED
    before = await store.list_slots(agent_id=AGENT)

    again = await importer(plan_file(tmp_path))
    assert (again.created, again.updated, again.unchanged, again.skipped) == (0, 0, 5, [])
    assert await store.list_slots(agent_id=AGENT) == before

    changed = await importer(plan_file(tmp_path, title="daily sync"))
    assert changed.created == 0 and changed.updated == 1
    assert (await store.get_series(series.id)).title == "daily sync"
    assert len(await store.list_series(AGENT)) == 1


async def test_started_slots_keep_the_calendars_state(
    importer: Importer, store: EmbeddedCalendar, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "a.ics",
        vevent(
            "x@example",
            f"DTSTART:{(START + timedelta(minutes=1)).strftime('%Y%m%dT%H%M%S')}",
            "SUMMARY:a",
        ),
    )
    await importer(path)
    slot_id = stable_id(AGENT, "x@example")
    await store.transition(
        slot_id, __import__("bot.core.models", fromlist=["Action"]).Action.CANCEL
    )
    path = write(tmp_path / "a.ics", vevent("x@example", "DTSTART:20260301T090000", "SUMMARY:b"))
    outcome = await importer(path)
    assert outcome.skipped and "already CANCELLED" in outcome.skipped[0][1]
    assert (await store.get_slot(slot_id)).title == "a"
