"""Reading a window of a long series starts near the window, not at the series' first
instance (`Recurrence._rrule_near`), and must give exactly the instances the plain
expansion from the start gives: same wall times, same instants, same drops.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.series import Instance, Recurrence, SeriesRuleError

RULES = [
    "FREQ=HOURLY",
    "FREQ=HOURLY;INTERVAL=5",
    "FREQ=HOURLY;INTERVAL=7;BYDAY=MO,TU",
    "FREQ=HOURLY;BYHOUR=1,2,3;BYMINUTE=15,45",
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=DAILY;BYHOUR=2,9;BYMINUTE=30",
    "FREQ=DAILY;BYMONTH=3,10;BYMONTHDAY=1,15,29",
    "FREQ=WEEKLY;BYDAY=MO,WE,SU",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SA;WKST=SU",
    "FREQ=WEEKLY;INTERVAL=3",
    "FREQ=WEEKLY;BYDAY=MO,FR;BYSETPOS=-1",
    "FREQ=DAILY;UNTIL=20280101T000000Z",
    "FREQ=HOURLY;INTERVAL=11;COUNT=900",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
]
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]
FIRST = datetime(2025, 1, 1)


#: A random series: its rule, its zone, and its start in minutes after `FIRST`.
SERIES = {
    "rule": st.sampled_from(RULES),
    "zone": st.sampled_from(ZONES),
    "start_minutes": st.integers(0, 366 * 24 * 60),
}


def made(rule: str, zone: str, start_minutes: int, exdate_days: list[int]) -> Recurrence | None:
    """The series starting `start_minutes` after `FIRST`; None for a rule this start cannot
    keep (e.g. no instance): then there is nothing to compare."""
    first = FIRST + timedelta(minutes=start_minutes)
    exdates = tuple((first + timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%S") for d in exdate_days)
    try:
        return Recurrence.checked(rule, first.strftime("%Y-%m-%dT%H:%M"), zone, exdates)
    except SeriesRuleError:
        return None


def plain(recurrence: Recurrence, start: datetime, end: datetime) -> list[Instance]:
    """The reference: every instance from the series' first, filtered to the window."""
    found: list[Instance] = []
    for instance in recurrence.instances():
        if instance.at >= end:
            break
        if instance.at >= start:
            found.append(instance)
    return found


@settings(max_examples=40, deadline=None)
@given(
    **SERIES,
    window_start_hours=st.integers(-48, 3 * 366 * 24),
    window_hours=st.integers(1, 24 * 9),
    exdate_days=st.lists(st.integers(0, 800), max_size=4),
)
def test_a_window_gives_the_plain_expansions_instances(
    rule: str,
    zone: str,
    start_minutes: int,
    window_start_hours: int,
    window_hours: int,
    exdate_days: list[int],
) -> None:
    recurrence = made(rule, zone, start_minutes, exdate_days)
    if recurrence is None:
        return
    lo = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=window_start_hours)
    hi = lo + timedelta(hours=window_hours)
    assert recurrence.between(lo, hi) == plain(recurrence, lo, hi)


def test_a_window_of_a_years_long_hourly_series_is_read_near_the_window() -> None:
    """Two years of hourly instances before the window are not walked (17,000+ wall times):
    the read is the same as the plain one and still has every hour of the day."""
    recurrence = Recurrence.checked("FREQ=HOURLY", "2024-01-01T00:00", "Europe/Berlin")
    lo = datetime(2026, 3, 28, 12, tzinfo=UTC)  # across the spring gap of 2026-03-29
    window = recurrence.between(lo, lo + timedelta(days=2))
    assert window == plain(recurrence, lo, lo + timedelta(days=2))
    assert len(window) == 48


@settings(max_examples=30, deadline=None)
@given(
    **SERIES,
    until_hours=st.integers(-48, 3 * 366 * 24),
)
def test_the_latest_instance_is_the_plain_expansions_latest(
    rule: str, zone: str, start_minutes: int, until_hours: int
) -> None:
    recurrence = made(rule, zone, start_minutes, [])
    if recurrence is None:
        return
    until = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=until_hours, minutes=17)
    before = plain(recurrence, datetime(1970, 1, 1, tzinfo=UTC), until + timedelta(microseconds=1))
    assert recurrence.latest(until) == (before[-1] if before else None)
