"""Series across DST in America/New_York and Australia/Lord_Howe (a 30-minute shift), through
the store (every backend) and the range list, not only the core's expansion (DESIGN §3.1).

A wall time in the spring gap moves forward by the gap; one in the autumn fold
takes the first (earlier) instant; an ordinary time stays the same wall time.
The calendar's own zone is Asia/Shanghai (conftest), so the series' zone is the
only one that can explain the instants.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from bot.core.models import HeartbeatStatus, SeriesCreate
from tests.calendar.conftest import Backend

NEW_YORK = "America/New_York"
LORD_HOWE = "Australia/Lord_Howe"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


CASES = [
    # New York 2026: spring forward Mar 8 02:00 -> 03:00, fall back Nov 1 02:00 -> 01:00
    (NEW_YORK, "2026-03-01", "02:30", "20260308", utc(2026, 3, 8, 7, 30)),  # gap: 03:30 EDT
    (NEW_YORK, "2026-10-25", "01:30", "20261101", utc(2026, 11, 1, 5, 30)),  # fold: EDT's
    (NEW_YORK, "2026-03-01", "09:00", "20260308", utc(2026, 3, 8, 13)),  # EDT
    (NEW_YORK, "2026-10-25", "09:00", "20261101", utc(2026, 11, 1, 14)),  # EST
    # Lord Howe 2026: +10:30 -> +11 on Oct 4 at 02:00 (-> 02:30), back on Apr 5 at 02:00 (-> 01:30)
    (LORD_HOWE, "2026-09-27", "02:15", "20261004", utc(2026, 10, 3, 15, 45)),  # gap: 02:45
    (LORD_HOWE, "2026-03-29", "01:45", "20260405", utc(2026, 4, 4, 14, 45)),  # fold: +11's
    (LORD_HOWE, "2026-09-27", "09:00", "20261004", utc(2026, 10, 3, 22)),  # +11
    (LORD_HOWE, "2026-03-29", "09:00", "20260405", utc(2026, 4, 4, 22, 30)),  # +10:30
]


@pytest.mark.parametrize(("zone", "first", "wall", "day", "instant"), CASES)
async def test_dst_instants_through_the_store_and_the_range_list(
    backend: Backend, zone: str, first: str, wall: str, day: str, instant: datetime
) -> None:
    cal = backend.cal
    made = await cal.create_series(
        SeriesCreate(
            rrule="FREQ=DAILY", start=f"{first}T{wall}", timezone=zone, title="t", prompt="p"
        ),
        agent_id="ada",
    )
    slot_id = f"{made.id}_{day}T{wall.replace(':', '')}00"
    # a daily series has exactly one instance within 6 hours of the expected instant
    listed = await cal.list_range("ada", instant - timedelta(hours=6), instant + timedelta(hours=6))
    assert [(s.id, s.scheduled_at) for s in listed] == [(slot_id, instant)]
    assert (await cal.get_slot(slot_id)).scheduled_at == instant
    await backend.clock.set(instant + timedelta(minutes=1))
    [due] = await cal.heartbeat("ada", HeartbeatStatus.IDLE)  # only the latest instance
    assert (due.id, due.scheduled_at) == (slot_id, instant)


@pytest.mark.parametrize("zone", [NEW_YORK, LORD_HOWE])
async def test_a_year_of_a_daily_series_has_one_instance_a_day_and_keeps_its_wall_time(
    backend: Backend, zone: str
) -> None:
    """Across both shifts of the year: no day skipped or doubled, 09:00 local every day."""
    made = await backend.cal.create_series(
        SeriesCreate(
            rrule="FREQ=DAILY", start="2026-02-01T09:00", timezone=zone, title="t", prompt="p"
        ),
        agent_id="ada",
    )
    start = utc(2026, 1, 31)
    seen: list[datetime] = []
    for window in range(4):  # the range list spans at most 92 days
        lo = start + timedelta(days=90 * window)
        seen += [
            s.scheduled_at for s in await backend.cal.list_range("ada", lo, lo + timedelta(days=90))
        ]
    local = sorted(at.astimezone(ZoneInfo(zone)) for at in seen)
    assert len(local) > 300 and len(set(seen)) == len(seen)
    assert {(t.hour, t.minute) for t in local} == {(9, 0)}
    days = [t.date() for t in local]
    assert days[0] == date(2026, 2, 1)
    assert all(b - a == timedelta(days=1) for a, b in pairwise(days))
    assert made.timezone == zone
