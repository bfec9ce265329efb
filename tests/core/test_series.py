"""Series expansion (DESIGN §3.1) on real zones across DST, and the rules a series must keep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.series import (
    Recurrence,
    SeriesRuleError,
    occurrence_id,
    place,
    split_occurrence_id,
    wall_in,
)

BERLIN = "Europe/Berlin"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local_times(recurrence: Recurrence, count: int) -> list[str]:
    out = []
    for instance in recurrence.instances():
        out.append(instance.at.astimezone(recurrence.zone).strftime("%Y-%m-%d %H:%M %Z"))
        if len(out) == count:
            break
    return out


def test_wall_clock_time_stays_across_berlin_spring_and_autumn() -> None:
    spring = Recurrence.checked("FREQ=DAILY", "2026-03-28T09:00", BERLIN)
    assert local_times(spring, 3) == [
        "2026-03-28 09:00 CET",
        "2026-03-29 09:00 CEST",
        "2026-03-30 09:00 CEST",
    ]
    autumn = Recurrence.checked("FREQ=DAILY", "2026-10-24T09:00", BERLIN)
    instants = [i.at for i in autumn.between(utc("2026-10-24T00:00"), utc("2026-10-27T00:00"))]
    assert instants == [utc("2026-10-24T07:00"), utc("2026-10-25T08:00"), utc("2026-10-26T08:00")]


def test_spring_gap_moves_forward_by_the_gap() -> None:
    series = Recurrence.checked("FREQ=DAILY", "2026-03-28T02:30", BERLIN)
    assert local_times(series, 3) == [
        "2026-03-28 02:30 CET",
        "2026-03-29 03:30 CEST",  # 02:30 does not exist that night
        "2026-03-30 02:30 CEST",
    ]


def test_autumn_fold_takes_the_first_instant() -> None:
    series = Recurrence.checked("FREQ=DAILY;COUNT=1", "2026-10-25T02:30", BERLIN)
    (only,) = series.instances()
    assert only.at == utc("2026-10-25T00:30")  # 02:30 CEST, not 02:30 CET an hour later


def test_hourly_over_the_gap_drops_the_instance_landing_on_the_same_instant() -> None:
    series = Recurrence.checked("FREQ=HOURLY;COUNT=4", "2026-03-29T01:00", BERLIN)
    got = [(i.stamp, i.at) for i in series.instances()]
    assert got == [
        ("20260329T010000", utc("2026-03-29T00:00")),
        ("20260329T020000", utc("2026-03-29T01:00")),  # 02:00 -> 03:00 CEST
        # 03:00 is the same instant as the moved 02:00: dropped
        ("20260329T040000", utc("2026-03-29T02:00")),
    ]


def test_new_york_keeps_nine_oclock() -> None:
    series = Recurrence.checked("FREQ=WEEKLY;BYDAY=SU", "2026-03-01T09:00", "America/New_York")
    assert [i.at for i in islice_n(series, 3)] == [
        utc("2026-03-01T14:00"),
        utc("2026-03-08T13:00"),
        utc("2026-03-15T13:00"),
    ]
    assert [
        i.at
        for i in islice_n(
            Recurrence.checked("FREQ=DAILY", "2026-10-31T01:30", "America/New_York"), 2
        )
    ] == [
        utc("2026-10-31T05:30"),
        utc("2026-11-01T05:30"),  # 01:30 happens twice: the first (EDT)
    ]


def test_lord_howe_half_hour_shift() -> None:
    # Lord Howe Island moves 30 minutes: 2026-10-04 02:00 -> 02:30.
    series = Recurrence.checked("FREQ=DAILY;COUNT=3", "2026-10-03T02:15", "Australia/Lord_Howe")
    got = [i.at.astimezone(series.zone).strftime("%m-%d %H:%M") for i in series.instances()]
    assert got == ["10-03 02:15", "10-04 02:45", "10-05 02:15"]


def islice_n(recurrence: Recurrence, n: int) -> list:  # type: ignore[type-arg]
    out = []
    for instance in recurrence.instances():
        out.append(instance)
        if len(out) == n:
            break
    return out


def test_exdates_leave_out_wall_times_and_until_in_utc_is_honoured() -> None:
    series = Recurrence.checked(
        "FREQ=DAILY;UNTIL=20260105T080000Z", "2026-01-01T09:00", BERLIN, ("2026-01-02T09:00",)
    )
    # 08:00Z is 09:00 in Berlin: UNTIL is inclusive (RFC 5545), so the 5th is the last.
    assert [i.stamp[:8] for i in series.instances()] == [
        "20260101",
        "20260103",
        "20260104",
        "20260105",
    ]
    earlier = Recurrence.checked("FREQ=DAILY;UNTIL=20260105T075959Z", "2026-01-01T09:00", BERLIN)
    assert [i.stamp[:8] for i in earlier.instances()][-1] == "20260104"


def test_between_starts_mid_series_without_skipping() -> None:
    series = Recurrence.checked("FREQ=HOURLY", "2026-01-01T00:00", "UTC")
    window = series.between(utc("2026-06-01T10:00"), utc("2026-06-01T13:00"))
    assert [i.at for i in window] == [
        utc("2026-06-01T10:00"),
        utc("2026-06-01T11:00"),
        utc("2026-06-01T12:00"),
    ]


def test_occurrence_ids_round_trip() -> None:
    series = Recurrence.checked("FREQ=DAILY;COUNT=1", "2026-03-29T02:30", BERLIN)
    (only,) = series.instances()
    slot_id = occurrence_id("ser123", only)
    assert slot_id == "ser123_20260329T023000"  # the nominal wall time, not the moved one
    assert split_occurrence_id(slot_id) == ("ser123", datetime(2026, 3, 29, 2, 30))
    assert split_occurrence_id("plainslot") is None
    assert split_occurrence_id("a_b") is None


#: A rule refused on its own, over a start and zone that are fine: (RRULE, what the error says).
BAD_RULES = [
    ("FREQ=MINUTELY", "HOURLY or coarser"),
    ("FREQ=SECONDLY", "HOURLY or coarser"),
    ("FREQ=DAILY;BYSECOND=5", "BYSECOND"),
    ("FREQ=HOURLY;BYMINUTE=0,30", "at most 24"),
    ("FREQ=DAILY;COUNT=2;UNTIL=20270101", "COUNT and UNTIL"),
    ("FREQ=DAILY;UNTIL=20250101", "no instance"),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "no instance"),
    ("BYDAY=MO", "needs FREQ"),
    ("FREQ=DAILY;FREQ=WEEKLY", "twice"),
    ("FREQ=DAILY;COUNT=0", "COUNT"),
    ("FREQ=DAILY;COUNT=99999999999", "COUNT"),
    ("FREQ=DAILY;INTERVAL=-1", "INTERVAL"),
    ("FREQ=DAILY;BYDAY=XX", "not a valid RRULE"),
    ("FREQ=DAILY;UNTIL=tomorrow", "UNTIL"),
    ("FREQ=DAILY;" + "BYHOUR=1;" * 200, "longer"),
    ("", "RRULE value"),
]


@pytest.mark.parametrize(
    ("rule", "start", "zone", "field", "says"),
    [(rule, "2026-01-01T09:00", "UTC", "rrule", says) for rule, says in BAD_RULES]
    + [
        ("FREQ=DAILY", "2026-01-01T09:00+01:00", "UTC", "start", "local time"),
        ("FREQ=DAILY", "2026-02-30T09:00", "UTC", "start", "not a real date"),
        ("FREQ=DAILY", "0001-01-01T09:00", "UTC", "start", "between 1970 and 9998"),
        ("FREQ=DAILY", "2026-01-01T09:00", "Mars/Olympus", "timezone", "IANA"),
        ("FREQ=DAILY", "2026-01-01T09:00", "../../etc/passwd", "timezone", "IANA"),
    ],
)
def test_rules_a_series_must_keep(rule: str, start: str, zone: str, field: str, says: str) -> None:
    with pytest.raises(SeriesRuleError) as caught:
        Recurrence.checked(rule, start, zone)
    assert caught.value.field == field
    assert says in caught.value.detail


def test_wrong_types_are_refused_not_crashed() -> None:
    for bad in (None, 5, ["FREQ=DAILY"], {"FREQ": "DAILY"}):
        with pytest.raises(SeriesRuleError):
            Recurrence.checked(bad, "2026-01-01T09:00", "UTC")  # type: ignore[arg-type]
        with pytest.raises(SeriesRuleError):
            Recurrence.checked("FREQ=DAILY", bad, "UTC")  # type: ignore[arg-type]


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]


@settings(max_examples=60, deadline=None)
@given(
    freq=st.sampled_from(["HOURLY;INTERVAL=5", "DAILY", "WEEKLY;BYDAY=MO,FR", "MONTHLY"]),
    zone=st.sampled_from(ZONES),
    day=st.integers(0, 364),
    minute=st.integers(0, 24 * 60 - 1),
)
def test_instances_are_strictly_increasing_and_on_their_wall_time(
    freq: str, zone: str, day: int, minute: int
) -> None:
    start = datetime(2026, 1, 1) + timedelta(days=day, minutes=minute)
    series = Recurrence.checked(f"FREQ={freq}", start.strftime("%Y-%m-%dT%H:%M"), zone)
    tz = ZoneInfo(zone)
    last = None
    for instance in islice_n(series, 40):
        assert last is None or instance.at > last
        last = instance.at
        shown = instance.at.astimezone(tz).replace(tzinfo=None)
        # On its wall time, or moved forward by a gap of at most an hour.
        assert timedelta(0) <= shown - instance.nominal <= timedelta(hours=1)


def test_a_wall_time_written_in_the_series_zone_is_kept_even_in_the_spring_gap() -> None:
    """RFC 5545 names an occurrence by its wall time: 02:30 on the night it does not exist
    is still the 02:30 occurrence, not 03:30 (another one, on other nights)."""
    berlin = ZoneInfo(BERLIN)
    gap = datetime(2027, 3, 28, 2, 30)
    assert wall_in(gap.replace(tzinfo=berlin), berlin) == gap
    assert wall_in(gap, berlin) == gap  # floating: already a wall time
    # Written in another zone (UTC), it is converted: that instant reads 03:30 in Berlin.
    assert wall_in(place(gap, berlin), berlin) == datetime(2027, 3, 28, 3, 30)
    assert wall_in(utc("2026-12-07T08:00:00"), berlin) == datetime(2026, 12, 7, 9, 0)
