"""CalDAV calendar objects: what an event means to the moderator, and how its state is written.

Pure functions, no server: the mapping of DESIGN §10 (ids, fields, refusals
naming the UID) and the state written back into the right VEVENT, leaving
what the app wrote alone. Hostile events are cases here, not afterthoughts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar.caldav.mapping import MAX_OBJECT_CHARS, plan_object
from bot.calendar.caldav.objects import (
    ObjectError,
    find_event,
    instance_of,
    parse_object,
    set_state,
    state_of,
    text_of,
)
from bot.calendar.ics.convert import stable_id
from bot.calendar.store.imports import ImportedSeries
from bot.calendar.store.mirrored import MirroredState
from bot.core.models import SlotStatus

TZ = ZoneInfo("Europe/Berlin")


def vcalendar(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//app//EN\r\n{body}END:VCALENDAR\r\n"


SINGLE = vcalendar(
    "UID:standup-1\r\nDTSTAMP:20261201T000000Z\r\nDTSTART;TZID=Europe/Berlin:20261210T090000\r\n"
    "DURATION:PT45M\r\nSUMMARY:Stand-up\r\nDESCRIPTION:Say what you did\r\nPRIORITY:2\r\n"
    "X-APP-COLOUR:teal"
)
SERIES = vcalendar(
    "UID:weekly\r\nDTSTAMP:20261201T000000Z\r\nDTSTART;TZID=Europe/Berlin:20261207T100000\r\n"
    "DTEND;TZID=Europe/Berlin:20261207T110000\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:Review",
    "UID:weekly\r\nDTSTAMP:20261201T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261214T100000\r\n"
    "DTSTART;TZID=Europe/Berlin:20261214T120000\r\nDURATION:PT1H\r\nSUMMARY:Review (late)",
)


def test_a_single_event_maps_as_design_says() -> None:
    plan = plan_object("/dav/ada/1.ics", SINGLE, "ada", TZ)
    assert plan.refusals == [] and plan.series == []
    [slot] = plan.slots
    assert plan.uid == "standup-1" and slot.id == stable_id("ada", "standup-1")
    assert slot.id.startswith("ada-") and len(slot.id) == len("ada-") + 16
    assert slot.new.title == "Stand-up" and slot.new.prompt == "Say what you did"
    assert slot.new.priority == 80 and slot.new.estimated_duration_min == 45
    assert slot.new.scheduled_at == datetime(2026, 12, 10, 8, 0, tzinfo=UTC)
    assert slot.state is None


def test_a_recurring_event_and_its_own_instance() -> None:
    plan = plan_object("/dav/ada/w.ics", SERIES, "ada", TZ)
    [series] = plan.series
    assert isinstance(series, ImportedSeries) and series.new.rrule == "FREQ=WEEKLY"
    [instance] = plan.slots
    assert instance.series_id == series.id
    assert instance.recurrence is not None
    assert instance.recurrence.astimezone(TZ).replace(tzinfo=None) == datetime(2026, 12, 14, 10)
    assert instance.new.scheduled_at == datetime(2026, 12, 14, 11, 0, tzinfo=UTC)
    assert plan.ids == {series.id}


def test_floating_times_are_in_the_calendars_zone() -> None:
    text = vcalendar("UID:f\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20261210T090000\r\nSUMMARY:x")
    [slot] = plan_object("/f.ics", text, "ada", ZoneInfo("America/New_York")).slots
    assert slot.new.scheduled_at == datetime(2026, 12, 10, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            "UID:a\r\nDTSTAMP:20261201T000000Z\r\nDTSTART;VALUE=DATE:20261210\r\nSUMMARY:x",
            "all-day",
        ),
        ("UID:b\r\nDTSTAMP:20261201T000000Z\r\nSUMMARY:no start", "no DTSTART"),
        ("UID:c\r\nDTSTART;TZID=Mars/Olympus:20261210T090000\r\nSUMMARY:x", "unknown TZID"),
        (
            "UID:d\r\nDTSTART:20261210T090000Z\r\nRRULE:FREQ=MINUTELY\r\nSUMMARY:x",
            "finer than hourly",
        ),
        ("UID:e\r\nDTSTART:20261210T090000Z\r\nPRIORITY:99\r\nSUMMARY:x", "PRIORITY"),
    ],
)
def test_events_the_moderator_cannot_keep_are_refused_naming_the_uid(
    event: str, reason: str
) -> None:
    plan = plan_object("/dav/ada/x.ics", vcalendar(event), "ada", TZ)
    assert plan.slots == [] and plan.series == []
    [refusal] = plan.refusals
    assert reason in refusal.reason
    assert "UID" in refusal.name and "/dav/ada/x.ics" in refusal.name


@pytest.mark.parametrize(
    "text",
    ["", "not a calendar at all", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "\x00\x01\x02", "{}"],
)
def test_a_resource_that_is_not_icalendar_is_one_refusal(text: str) -> None:
    plan = plan_object("/dav/ada/junk.ics", text, "ada", TZ)
    assert plan.slots == [] and plan.series == []
    assert len(plan.refusals) == 1


def test_a_huge_resource_is_refused_unread() -> None:
    description = "x" * (MAX_OBJECT_CHARS + 1)
    text = vcalendar(f"UID:big\r\nDTSTART:20261210T090000Z\r\nDESCRIPTION:{description}")
    [refusal] = plan_object("/dav/ada/big.ics", text, "ada", TZ).refusals
    assert "too large" in refusal.reason


def test_deeply_nested_components_do_not_break_the_reader() -> None:
    nested = "BEGIN:X-A\r\n" * 500 + "END:X-A\r\n" * 500
    text = vcalendar(f"UID:n\r\nDTSTART:20261210T090000Z\r\nSUMMARY:x\r\n{nested}".strip())
    plan = plan_object("/dav/ada/n.ics", text, "ada", TZ)
    assert len(plan.slots) + len(plan.refusals) >= 1


def test_state_is_written_into_the_master_and_read_back_leaving_the_apps_properties() -> None:
    calendar = parse_object(SINGLE)
    master = find_event(calendar, None, TZ)
    assert master is not None and state_of(master) is None
    set_state(master, MirroredState(SlotStatus.ONGOING, "claim-1", "woken"))
    text = text_of(calendar)
    [slot] = plan_object("/1.ics", text, "ada", TZ).slots
    assert slot.state == MirroredState(SlotStatus.ONGOING, "claim-1", "woken")
    assert "X-APP-COLOUR:teal" in text


def test_a_finished_state_drops_the_claim_and_a_cancel_says_so_to_apps() -> None:
    calendar = parse_object(SINGLE)
    master = find_event(calendar, None, TZ)
    assert master is not None
    set_state(master, MirroredState(SlotStatus.ONGOING, "claim-1"))
    set_state(master, MirroredState(SlotStatus.FINISHED, "claim-1"))
    state = state_of(master)
    assert state is not None and state.status is SlotStatus.FINISHED and state.claim_key is None
    set_state(master, MirroredState(SlotStatus.CANCELLED))
    assert str(master.get("STATUS")) == "CANCELLED"


def test_an_occurrence_gets_its_own_instance_made_from_the_master() -> None:
    calendar = parse_object(SERIES)
    nominal = datetime(2026, 12, 21, 10, 0)
    assert find_event(calendar, nominal, TZ) is None
    instance = instance_of(calendar, nominal, TZ)
    set_state(instance, MirroredState(SlotStatus.ONGOING, "k"))
    plan = plan_object("/w.ics", text_of(calendar), "ada", TZ)
    made = [s for s in plan.slots if s.state is not None]
    assert len(made) == 1 and made[0].state == MirroredState(SlotStatus.ONGOING, "k")
    assert made[0].new.scheduled_at == datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
    assert made[0].new.title == "Review" and made[0].new.estimated_duration_min == 60
    assert instance_of(calendar, nominal, TZ) is instance  # found again, never made twice


def test_parse_object_refuses_what_is_not_a_vcalendar() -> None:
    with pytest.raises(ObjectError):
        parse_object("BEGIN:VEVENT\r\nEND:VEVENT\r\n")


@settings(max_examples=60, deadline=None)
@given(
    status=st.sampled_from(list(SlotStatus)),
    claim=st.none() | st.text(alphabet="abcdef0123456789-", min_size=1, max_size=40),
    note=st.none() | st.text(min_size=1, max_size=80).filter(lambda s: s.strip() == s and s),
)
def test_any_state_survives_the_round_trip_through_the_event(
    status: SlotStatus, claim: str | None, note: str | None
) -> None:
    calendar = parse_object(SINGLE)
    master = find_event(calendar, None, TZ)
    assert master is not None
    set_state(master, MirroredState(status, claim, note))
    [slot] = plan_object("/1.ics", text_of(calendar), "ada", TZ).slots
    assert slot.state is not None and slot.state.status is status
    assert slot.state.claim_key == (claim if status.is_active else None)
    if note is not None:
        assert slot.state.note == note.replace("\r\n", "\n").replace("\r", "\n").strip()
