"""From a VEVENT to what the calendar keeps (DESIGN §10): a slot, a series, or a refusal.

Ids are derived, never made up: `<agent>-<first 16 hex of sha256(UID)>` for a
single event or a series (as a CalDAV calendar names them, §10), and the
series' occurrence id for a RECURRENCE-ID instance, so importing the same
event again finds it. Fields map as §10 says: SUMMARY -> title, DESCRIPTION
-> prompt, DTSTART -> scheduled_at (a floating time is in the calendar's
`TIMEZONE`), DTEND/DURATION -> estimated_duration_min (default 30),
`X-MODERATOR-PRIORITY` (exact, as the feed writes it) or PRIORITY 1..9 ->
`100 - 10*p` (unset or 0 -> 50), STATUS:CANCELLED -> cancelled, the first of
CATEGORIES -> slot_type when it is one. An event the calendar cannot keep
exactly is refused with its reason, never bent to fit.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Component
from pydantic import ValidationError

from bot.calendar.ics.read import MAX_EVENT_BYTES, RawEvent
from bot.calendar.store.imports import ImportedSeries, ImportedSlot
from bot.core.calendar import BadRequest
from bot.core.models import SeriesCreate, SlotCreate, describe_validation
from bot.core.series import Recurrence, SeriesRuleError
from bot.core.validation import check_local_years

_SLOT_TYPE = re.compile(r"^[a-z0-9_-]{1,32}$")
_MAX_DURATION_MIN = 10080
#: The ICS names of the fields a validation message may name.
_ICS_NAMES = {
    "title": "SUMMARY",
    "prompt": "DESCRIPTION",
    "scheduled_at": "DTSTART",
    "estimated_duration_min": "DURATION",
    "priority": "PRIORITY",
    "start": "DTSTART",
    "exdates": "EXDATE",
}


#: What icalendar raises on text it cannot read (it is not consistent about which).
_PARSER_FAILURES = (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError)


class Refused(Exception):
    """The event cannot be imported: `reason` says why, for the listing. `not_a_slot`: it is
    well formed but nothing the moderator plans (an all-day event), not a mistake."""

    def __init__(self, reason: str, *, not_a_slot: bool = False) -> None:
        super().__init__(reason)
        self.not_a_slot = not_a_slot


@dataclass(frozen=True, slots=True)
class Refusal:
    name: str
    reason: str
    not_a_slot: bool = False


def stable_id(agent_id: str, uid: str) -> str:
    """The id an event of `uid` has for `agent_id`, the same at every import (§10)."""
    return f"{agent_id}-{hashlib.sha256(uid.encode('utf-8')).hexdigest()[:16]}"


def convert(
    raw: RawEvent, agent_id: str, zone: ZoneInfo
) -> ImportedSeries | ImportedSlot | Refusal:
    """What `raw` becomes for `agent_id` (floating times in `zone`), or why it cannot."""
    if raw.oversized:
        return Refusal(raw.name, f"too large: over {MAX_EVENT_BYTES // 1024} KiB")
    try:
        return _convert(raw, agent_id, zone)
    except Refused as exc:
        return Refusal(raw.name, str(exc), exc.not_a_slot)
    except _PARSER_FAILURES as exc:  # icalendar on hostile text: the event is malformed
        return Refusal(raw.name, f"malformed: {_short(exc)}")


def convert_component(
    event: Component, name: str, agent_id: str, zone: ZoneInfo
) -> ImportedSeries | ImportedSlot | Refusal:
    """`convert` for a VEVENT already parsed (a CalDAV resource holds several); `name` is how
    a message names it."""
    try:
        return _from_component(event, name, agent_id, zone)
    except Refused as exc:
        return Refusal(name, str(exc), exc.not_a_slot)
    except _PARSER_FAILURES as exc:  # icalendar on hostile text: the event is malformed
        return Refusal(name, f"malformed: {_short(exc)}")


def _convert(raw: RawEvent, agent_id: str, zone: ZoneInfo) -> ImportedSeries | ImportedSlot:
    return _from_component(Component.from_ical(raw.text()), raw.name, agent_id, zone)


def _from_component(
    event: Component, name: str, agent_id: str, zone: ZoneInfo
) -> ImportedSeries | ImportedSlot:
    uid = str(event.get("UID", "")).strip()
    if not uid:
        raise Refused("no UID: an import is keyed by UID, so it cannot be found again")
    wall, start_zone = _start(event, zone)
    start = wall.replace(tzinfo=start_zone)
    fields = _content(event, start, zone)
    if event.get("RECURRENCE-ID") is not None:
        if event.get("RRULE") is not None:
            raise Refused("both RRULE and RECURRENCE-ID")
        nominal, nominal_zone = _wall(event, "RECURRENCE-ID", zone)
        recurrence = nominal.replace(tzinfo=nominal_zone)
        new = _held(SlotCreate, {**fields, "scheduled_at": start, "allow_past": True})
        series_id = stable_id(agent_id, uid)
        return ImportedSlot(
            series_id, name, new, _cancelled(event), series_id=series_id, recurrence=recurrence
        )
    if event.get("RRULE") is not None:
        series = _series(event, wall, start_zone, fields)
        return ImportedSeries(stable_id(agent_id, uid), name, series, _cancelled(event))
    new = _held(SlotCreate, {**fields, "scheduled_at": start, "allow_past": True})
    return ImportedSlot(stable_id(agent_id, uid), name, new, _cancelled(event))


def _start(event: Component, zone: ZoneInfo) -> tuple[datetime, ZoneInfo]:
    """DTSTART as (naive wall time, its zone); an aware time is made from them."""
    if event.get("DTSTART") is None:
        raise Refused("no DTSTART: nothing says when it is")
    wall, at_zone = _wall(event, "DTSTART", zone)
    try:
        check_local_years(wall.replace(tzinfo=at_zone), zone, "DTSTART")
    except BadRequest as exc:
        raise Refused(str(exc)) from None
    return wall, at_zone


def _wall(event: Component, name: str, zone: ZoneInfo) -> tuple[datetime, ZoneInfo]:
    """A date-time property as (naive wall time, the zone it is in)."""
    prop: Any = event[name]
    if isinstance(prop, list):
        raise Refused(f"{name} is given more than once")
    try:
        value = prop.dt
    except (ValueError, AttributeError) as exc:
        raise Refused(f"{name} is not a date-time: {_short(exc)}") from None
    if not isinstance(value, datetime):
        if isinstance(value, date):
            raise Refused("an all-day event: the calendar plans times, not days", not_a_slot=True)
        raise Refused(f"{name} is not a date-time")
    return _placed(value, prop.params.get("TZID"), zone)


def _placed(value: datetime, tzid: str | None, zone: ZoneInfo) -> tuple[datetime, ZoneInfo]:
    """Floating -> the calendar's zone; TZID -> that IANA zone; UTC -> UTC; else refused."""
    if value.tzinfo is None:
        return value, (zone if tzid is None else _zone(tzid))
    if isinstance(value.tzinfo, ZoneInfo):
        return value.replace(tzinfo=None), value.tzinfo
    if value.utcoffset() == timedelta(0) and tzid is None:
        return value.replace(tzinfo=None), ZoneInfo("UTC")
    raise Refused(f"unknown TZID {tzid or value.tzinfo}: not an IANA time zone")


def _zone(tzid: str) -> ZoneInfo:
    try:
        return ZoneInfo(tzid)
    except (ValueError, OSError, KeyError):
        raise Refused(f"unknown TZID {tzid[:64]!r}: not an IANA time zone") from None


def _content(event: Component, start: datetime, zone: ZoneInfo) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": str(event.get("SUMMARY", "")),
        "prompt": str(event.get("DESCRIPTION", "")),
        "priority": _priority(event),
        "estimated_duration_min": _duration(event, start, zone),
    }
    categories: Any = event.get("CATEGORIES")
    if categories is not None and not isinstance(categories, list):
        first = next(iter(getattr(categories, "cats", [])), None)
        if isinstance(first, str) and _SLOT_TYPE.match(first):
            fields["slot_type"] = first
    return fields


def _priority(event: Component) -> int:
    exact = str(event.get("X-MODERATOR-PRIORITY", "")).strip()
    if exact.isdigit() and 0 <= int(exact) <= 100:
        return int(exact)
    raw = str(event.get("PRIORITY", "0")).strip()
    if not raw.isdigit() or not 0 <= int(raw) <= 9:
        raise Refused(f"PRIORITY {raw[:20]!r} is not 0..9")
    return 50 if int(raw) == 0 else 100 - 10 * int(raw)


def _duration(event: Component, start: datetime, zone: ZoneInfo) -> int:
    length: timedelta | None = None
    if event.get("DURATION") is not None:
        duration: Any = event["DURATION"]
        length = getattr(duration, "dt", None)
        if not isinstance(length, timedelta):
            raise Refused("DURATION is not a duration")
    elif event.get("DTEND") is not None:
        end, end_zone = _wall(event, "DTEND", zone)
        length = end.replace(tzinfo=end_zone) - start
    if length is None:
        return 30
    minutes = math.ceil(length.total_seconds() / 60)
    if not 1 <= minutes <= _MAX_DURATION_MIN:
        raise Refused(f"lasts {minutes} minutes; a slot lasts 1 to {_MAX_DURATION_MIN}")
    return minutes


def _cancelled(event: Component) -> bool:
    return str(event.get("STATUS", "")).strip().upper() == "CANCELLED"


def _series(
    event: Component, wall: datetime, zone: ZoneInfo, fields: dict[str, Any]
) -> SeriesCreate:
    if isinstance(event["RRULE"], list):
        raise Refused("more than one RRULE: a series has one")
    if event.get("RDATE") is not None:
        raise Refused("RDATE: a series here is one RRULE with EXDATEs")
    rrule: Any = event["RRULE"]
    rule = bytes(rrule.to_ical()).decode("utf-8")
    exdates = [moment.isoformat() for moment in _exdates(event, zone, zone)]
    try:
        Recurrence.checked(rule, wall.isoformat(), zone.key, tuple(exdates))
    except SeriesRuleError as exc:
        raise Refused(_finer_than_hourly(exc)) from None
    data = {**fields, "rrule": rule, "start": wall.isoformat(), "timezone": zone.key}
    series: SeriesCreate = _held(SeriesCreate, {**data, "exdates": exdates})
    return series


def _finer_than_hourly(exc: SeriesRuleError) -> str:
    if "MINUTELY" in exc.detail or "SECONDLY" in exc.detail or "BYSECOND" in exc.detail:
        return f"RRULE finer than hourly: {exc.detail}"
    return f"{_ICS_NAMES.get(exc.field, exc.field.upper())}: {exc.detail}"


def _exdates(event: Component, zone: ZoneInfo, calendar_zone: ZoneInfo) -> list[datetime]:
    found: list[datetime] = []
    props: Any = event.get("EXDATE")
    if props is None:
        return found
    for prop in props if isinstance(props, list) else [props]:
        tzid = prop.params.get("TZID")
        for one in prop.dts:
            value = one.dt
            if not isinstance(value, datetime):
                raise Refused("an EXDATE is a date, not a date-time")
            wall, at_zone = _placed(value, tzid, calendar_zone)
            if at_zone != zone:
                wall = wall.replace(tzinfo=at_zone).astimezone(zone).replace(tzinfo=None)
            found.append(wall)
    return sorted(set(found))


def _held(model: type[Any], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        detail = describe_validation(exc)
        for field, ics in _ICS_NAMES.items():
            detail = detail.replace(f"{field}:", f"{ics}:")
        raise Refused(detail) from None


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
