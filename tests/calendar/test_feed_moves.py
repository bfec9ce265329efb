"""A move names both days in the change feed (DESIGN §4.1: "old and new for a move"), on
every backend and over REST; a refused move records nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bot.calendar.client import HttpCalendar
from bot.core.calendar import TransitionConflict
from bot.core.models import Action, SlotEdit
from tests.calendar.conftest import TOKEN, TZ, Backend, slot_body

#: 23:30 local on Monday 2026-01-05: half an hour before the calendar's midnight.
LATE = datetime(2026, 1, 5, 23, 30, tzinfo=TZ)
MONDAY, TUESDAY = date(2026, 1, 5), date(2026, 1, 6)


async def _rest_dates(backend: Backend, since: int) -> list[Any]:
    """The `dates` of each change `GET /calendar/changes` answers after `since`."""
    assert isinstance(backend.cal, HttpCalendar)
    base = backend.cal._transport.base_url
    headers = {"Authorization": f"Bearer {TOKEN}"} if backend.name == "http-auth" else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base}/calendar/changes?since={since}", headers=headers) as resp,
    ):
        assert resp.status == 200
        body = await resp.json()
    return [change["dates"] for change in body["changes"]]


async def _days_after(backend: Backend, since: int) -> list[tuple[date, ...]]:
    page = await backend.store.feed_page(since)
    days = [change.days for change in page.changes]
    if backend.name.startswith("http"):
        wire = await _rest_dates(backend, since)
        assert wire == [[day.isoformat() for day in each] for each in days]
    return days


async def test_a_move_across_midnight_names_both_days(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(LATE), agent_id="alice")
    cursor = (await backend.store.feed_page(None)).cursor
    moved = await backend.cal.edit_slot(
        slot.id,
        SlotEdit(scheduled_at=LATE + timedelta(hours=1), expected_version=slot.version),
    )
    assert moved.scheduled_at.date() == TUESDAY
    assert await _days_after(backend, cursor) == [(MONDAY, TUESDAY)]
    # An edit that does not move names the one day it is on.
    cursor = (await backend.store.feed_page(None)).cursor
    await backend.cal.edit_slot(slot.id, SlotEdit(title="renamed"))
    assert await _days_after(backend, cursor) == [(TUESDAY,)]


async def test_a_defer_until_the_next_day_names_both_days(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(LATE), agent_id="alice")
    cursor = (await backend.store.feed_page(None)).cursor
    await backend.cal.transition(slot.id, Action.DEFER, until=LATE + timedelta(hours=2))
    assert await _days_after(backend, cursor) == [(MONDAY, TUESDAY)]


async def test_a_page_keeps_the_day_an_earlier_move_left(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(LATE), agent_id="alice")
    cursor = (await backend.store.feed_page(None)).cursor
    await backend.cal.edit_slot(slot.id, SlotEdit(scheduled_at=LATE + timedelta(days=2)))
    await backend.cal.edit_slot(slot.id, SlotEdit(title="after the move"))
    assert await _days_after(backend, cursor) == [(MONDAY, date(2026, 1, 7))]


async def test_a_refused_move_records_nothing(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(LATE), agent_id="alice")
    await backend.cal.edit_slot(slot.id, SlotEdit(title="moves the version on"))
    before = await backend.store.slot_events(slot.id)
    cursor = (await backend.store.feed_page(None)).cursor
    with pytest.raises(TransitionConflict):
        await backend.cal.edit_slot(
            slot.id,
            SlotEdit(scheduled_at=LATE + timedelta(hours=1), expected_version=slot.version),
        )
    assert (await backend.store.feed_page(None)).cursor == cursor
    assert await backend.store.slot_events(slot.id) == before
    assert (await backend.cal.get_slot(slot.id)).scheduled_at == LATE
