"""Property: for any series the calendar keeps, the expanded feed is its range list.

Rules, zones and start times are drawn around DST changes in both hemispheres,
including wall times in the spring gap and the autumn fold. Rules with several
instances an hour apart across a gap are left out: where the calendar drops an
instance that lands on another's instant (§3.1), the expander names the
remaining one by a different wall time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.calendar.ics.export import Window, agent_feed
from bot.calendar.store import EmbeddedCalendar
from bot.core.clock import FakeClock
from bot.core.models import SeriesCreate
from tests.calendar.properties import replayable
from tests.calendar.test_ics_feed import AGENT, expanded, listed

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC")
#: Days on or near which one of those zones changes its clocks in 2026.
DST_DAYS = (
    datetime(2026, 3, 8),
    datetime(2026, 3, 29),
    datetime(2026, 4, 5),
    datetime(2026, 10, 4),
    datetime(2026, 10, 25),
    datetime(2026, 11, 1),
)
RULES = (
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=WEEKLY;BYDAY=MO,WE,SU",
    "FREQ=HOURLY;INTERVAL=25",
    "FREQ=DAILY;BYHOUR=2,9;BYMINUTE=30",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=DAILY;COUNT=30",
)


async def _check(rule: str, zone: str, start: datetime, created_before: int) -> None:
    tz = ZoneInfo(zone)
    now = (start + timedelta(days=created_before)).replace(tzinfo=tz)
    clock = FakeClock(start=now.astimezone(UTC))
    calendar = await EmbeddedCalendar.open(
        ":memory:", timezone=ZoneInfo("Europe/Berlin"), clock=clock
    )
    try:
        await calendar.create_series(
            SeriesCreate(agent_id=AGENT, rrule=rule, start=start.isoformat(), timezone=zone)
        )
        window = Window.around(clock.now())
        ics = await agent_feed(calendar, AGENT, window, timezone=calendar.timezone, stamp=now)
        truth = await calendar.list_range(AGENT, window.start, window.end)
        assert expanded(ics, window) == listed(truth)
    finally:
        await calendar.close()


@replayable(max_examples=15)
@given(
    rule=st.sampled_from(RULES),
    zone=st.sampled_from(ZONES),
    day=st.sampled_from(DST_DAYS),
    shift=st.integers(-20, 5),
    hour=st.integers(0, 23),
    minute=st.sampled_from((0, 30)),
    created_before=st.integers(0, 12),
)
def test_any_series_expands_to_its_range_list(
    rule: str, zone: str, day: datetime, shift: int, hour: int, minute: int, created_before: int
) -> None:
    start = (day + timedelta(days=shift)).replace(hour=hour, minute=minute)
    asyncio.run(_check(rule, zone, start, created_before))
