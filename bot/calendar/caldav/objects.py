"""Calendar objects as a CalDAV server keeps them: one resource, one UID, its VEVENTs (DESIGN §10).

A recurring event and the instances changed on their own share one resource:
the master (with RRULE) and one VEVENT per RECURRENCE-ID. The moderator
writes its state into the VEVENT of the slot it acts on (`X-MODERATOR-STATUS`,
`X-MODERATOR-CLAIM`, `X-MODERATOR-NOTE`), making an occurrence's own instance
when it has none yet, and leaves every property it does not own as the app
wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component, Event, vRecur, vText

from bot.calendar.ics.export import add_content
from bot.calendar.store.mirrored import MirroredState
from bot.core.models import NewSlotContent, Series, SlotContent, SlotStatus
from bot.core.series import place, wall_in

PRODID = "-//calendar-moderator//CalDAV//EN"
STATUS = "X-MODERATOR-STATUS"
CLAIM = "X-MODERATOR-CLAIM"
NOTE = "X-MODERATOR-NOTE"
_PARSE_FAILURES = (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError)
#: Properties an occurrence's own instance does not copy from the master.
_MASTER_ONLY = ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "DTEND", STATUS, CLAIM, NOTE)
#: RFC 5545 TEXT escapes (the only ones: backslash, comma, semicolon, newline).
_TEXT_ESCAPE = re.compile(r"\\([\\,;nN])")
_UNESCAPED = {"n": "\n", "N": "\n"}
#: What an event's content is written from: a slot or series, kept or new.
Content = SlotContent | NewSlotContent


class ObjectError(ValueError):
    """A resource that is not a calendar object the moderator can read."""


def parse_object(text: str) -> Calendar:
    """The VCALENDAR of a resource, or `ObjectError` saying why it is not one."""
    try:
        calendar = Calendar.from_ical(text)
    except _PARSE_FAILURES as exc:
        raise ObjectError(f"not iCalendar: {str(exc)[:120]}") from None
    if not isinstance(calendar, Calendar):
        raise ObjectError("not a VCALENDAR")
    return calendar


def events_of(calendar: Component) -> Iterator[Component]:
    """The VEVENTs of the object, master first as stored."""
    yield from calendar.walk("VEVENT")


def uid_of(calendar: Component) -> str | None:
    """The object's UID (all its VEVENTs share it), or None without one."""
    for event in events_of(calendar):
        uid = str(event.get("UID", "")).strip()
        if uid:
            return uid
    return None


def _x_text(event: Component, name: str) -> str:
    """An `X-` property as text: read from a file it is unknown to icalendar and still
    escaped (RFC 5545 TEXT), set here it is a `vText` already."""
    value = event.get(name)
    if value is None:
        return ""
    if type(value) is vText:
        return str(value)
    return _TEXT_ESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(1)), str(value))


def state_of(event: Component) -> MirroredState | None:
    """The state a moderator wrote into the VEVENT, or None (never acted on, or dropped).

    A status this version does not know was written by a newer moderator sharing the
    calendar: UNKNOWN, not wakeable (DESIGN §3), never taken for "not acted on"."""
    text = _x_text(event, STATUS).strip()
    if not text:
        return None
    try:
        status = SlotStatus(text)
    except ValueError:
        status = SlotStatus.UNKNOWN
    claim = _x_text(event, CLAIM).strip() or None
    note = _x_text(event, NOTE).strip() or None
    return MirroredState(status, claim, note)


def find_event(calendar: Component, nominal: datetime | None, zone: ZoneInfo) -> Component | None:
    """The master (`nominal` None) or the instance of RECURRENCE-ID `nominal` (a wall time
    in the series' `zone`), or None when the object has none."""
    for event in events_of(calendar):
        recurrence: Any = event.get("RECURRENCE-ID")
        if nominal is None and recurrence is None:
            return event
        if nominal is not None and recurrence is not None:
            value = getattr(recurrence, "dt", None)
            if isinstance(value, datetime) and wall_in(value, zone) == nominal:
                return event
    return None


def _in_form_of(master_start: Any, instant: datetime, zone: ZoneInfo) -> datetime:
    """`instant` written as the master's DTSTART is: in its zone, in UTC, or floating."""
    value = getattr(master_start, "dt", None)
    if isinstance(value, datetime) and value.tzinfo is None:
        return instant.astimezone(zone).replace(tzinfo=None)
    if isinstance(value, datetime) and isinstance(value.tzinfo, ZoneInfo):
        return instant.astimezone(value.tzinfo)
    return instant.astimezone(UTC)


def _named_in_form_of(master_start: Any, nominal: datetime, zone: ZoneInfo) -> datetime:
    """The RECURRENCE-ID of the occurrence at wall time `nominal`: in the master's zone it is
    that wall time as it is (in a DST gap too, where the instant would read an hour later),
    otherwise the instant in the master's form."""
    value = getattr(master_start, "dt", None)
    if isinstance(value, datetime) and value.tzinfo is None:
        return nominal
    master_zone = value.tzinfo if isinstance(value, datetime) else None
    if isinstance(master_zone, ZoneInfo) and master_zone.key == zone.key:
        return nominal.replace(tzinfo=master_zone)
    return _in_form_of(master_start, place(nominal, zone), zone)


def instance_of(calendar: Component, nominal: datetime, zone: ZoneInfo) -> Component:
    """The occurrence's own VEVENT, made from the master when there is none yet."""
    found = find_event(calendar, nominal, zone)
    if found is not None:
        return found
    master = find_event(calendar, None, zone)
    if master is None:
        raise ObjectError("no master VEVENT to make the occurrence's instance from")
    instance = Event()
    for name, value in master.property_items(recursive=False):
        if name in ("BEGIN", "END") or name in _MASTER_ONLY:
            continue
        instance.add(name, value, encode=False)
    start: Any = master.get("DTSTART")
    instance.pop("DTSTART", None)
    instance.add("DTSTART", _in_form_of(start, place(nominal, zone), zone))
    instance.add("RECURRENCE-ID", _named_in_form_of(start, nominal, zone))
    if "DURATION" not in instance:
        instance.add("DURATION", _master_length(master))
    calendar.add_component(instance)
    return instance


def _master_length(master: Component) -> timedelta:
    start: Any = master.get("DTSTART")
    end: Any = master.get("DTEND")
    if start is not None and end is not None:
        length = end.dt - start.dt
        if isinstance(length, timedelta) and length > timedelta(0):
            return length
    return timedelta(minutes=30)


def set_state(event: Component, state: MirroredState) -> None:
    """Write `state` into `event`; a claim key only while the claim holds (ONGOING, PAUSED)."""
    for name in (STATUS, CLAIM):
        event.pop(name, None)
    event.add(STATUS, vText(state.status.value))
    if state.claim_key is not None and state.status.is_active:
        event.add(CLAIM, vText(state.claim_key))
    if state.note is not None:
        event.pop(NOTE, None)  # iCalendar TEXT has one line break: \r\n and \r become \n
        event.add(NOTE, vText(state.note.replace("\r\n", "\n").replace("\r", "\n")))
    if state.status is SlotStatus.CANCELLED:
        event.pop("STATUS", None)
        event.add("STATUS", "CANCELLED")
    _touch(event)


def set_fields(event: Component, slot: Content, start: datetime, zone: ZoneInfo) -> None:
    """Write the slot's content and time into `event`, in the form its DTSTART already has."""
    old_start: Any = event.get("DTSTART")
    for name in ("DTSTART", "DTEND", "DURATION", "SUMMARY", "DESCRIPTION", "PRIORITY"):
        event.pop(name, None)
    event.pop("X-MODERATOR-PRIORITY", None)
    event.pop("CATEGORIES", None)
    event.add(
        "DTSTART",
        start.astimezone(zone) if old_start is None else _in_form_of(old_start, start, zone),
    )
    add_content(event, slot)
    sequence = str(event.pop("SEQUENCE", "0")).strip()
    event.add("SEQUENCE", int(sequence) + 1 if sequence.isdigit() and len(sequence) < 9 else 1)
    _touch(event)


def new_object(uid: str) -> tuple[Calendar, Event]:
    """An empty VCALENDAR holding one new VEVENT of `uid`."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    event = Event()
    event.add("UID", uid)
    calendar.add_component(event)
    return calendar, event


def set_rule(event: Component, series: Series, *, until: datetime | None = None) -> None:
    """The series' RRULE and EXDATEs, with `UNTIL` (UTC) when it ends."""
    event.pop("RRULE", None)
    event.pop("EXDATE", None)
    rule = vRecur.from_ical(series.rrule)
    zone = ZoneInfo(series.timezone)
    if until is not None:
        rule.pop("COUNT", None)
        rule["UNTIL"] = [until.astimezone(UTC).replace(microsecond=0)]
    elif "UNTIL" in rule:
        # The copy keeps UNTIL as a wall time; RFC 5545 3.3.10 wants UTC beside a TZID.
        rule["UNTIL"] = [_utc_until(value, zone) for value in rule["UNTIL"]]
    event.add("RRULE", rule)
    for wall in series.exdates:
        event.add("EXDATE", datetime.fromisoformat(wall).replace(tzinfo=zone))
    _touch(event)


def _utc_until(value: Any, zone: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        instant = place(value, zone) if value.tzinfo is None else value.astimezone(UTC)
        return instant.replace(microsecond=0)
    return value  # a date: an all-day UNTIL, as the rule was given


def _touch(event: Component) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        event.pop(name, None)
        event.add(name, now)


def text_of(calendar: Component) -> str:
    """The object as text, with a VTIMEZONE for each TZID it uses (RFC 5545 asks for them, and
    servers refuse an object without), covering a few years around now."""
    if isinstance(calendar, Calendar):
        year = datetime.now(UTC).year
        calendar.add_missing_timezones(
            first_date=date(year - 2, 1, 1), last_date=date(year + 5, 1, 1)
        )
    return bytes(calendar.to_ical()).decode("utf-8")
