"""An agent's plan as iCalendar (DESIGN §10): what the ICS feed serves and `calendar export` writes.

The calendar's own range list is the truth, and the feed is built so that a
standard expander gives the same instants within the window: single slots are
one VEVENT each (UID = slot id); a series is one VEVENT with its RRULE and
EXDATE, and every occurrence that does not read exactly as the series would
make it (moved, edited, claimed, ended, superseded) gets a RECURRENCE-ID
instance of its own. An instance the rule names but the calendar does not
list in the window (before the series was made, after it ended, an occurrence
moved out of the window) is left out with an EXDATE, so an app never shows a
plan that is not there.

Series times stay wall times in the series' zone (DTSTART and EXDATE with its
TZID), so an app applies the same DST rules as the calendar (§3.1); `UNTIL`,
stored as a wall time, is written in UTC as RFC 5545 asks when DTSTART has a
TZID.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component, Event, vRecur

from bot.core.limits import RANGE_MAX_DAYS
from bot.core.models import NewSlotContent, Series, Slot, SlotContent, SlotStatus
from bot.core.series import (
    OCCURRENCE_STAMP,
    Recurrence,
    SeriesRuleError,
    occurrence_id,
    place,
    split_occurrence_id,
)

#: The feed's window around now (DESIGN §10).
FEED_BACK = timedelta(days=7)
FEED_AHEAD = timedelta(days=60)
PRODID = "-//calendar-moderator//ICS feed//EN"
ICS_TYPE = "text/calendar"
#: The fields an occurrence copies from its series; one that differs needs its own instance.
_COPIED = ("estimated_duration_min", "priority", "slot_type", "title", "prompt", "event_data")


class FeedSource(Protocol):
    """What a feed is read from: the embedded calendar, or a served one through the client."""

    async def list_range(
        self, agent_id: str, start: datetime, end: datetime, status: SlotStatus | None = None
    ) -> list[Slot]: ...

    async def list_series(self, agent_id: str | None = None) -> list[Series]: ...


@dataclass(frozen=True, slots=True)
class Window:
    """`start <= scheduled_at < end`, as the range list reads it."""

    start: datetime
    end: datetime

    @classmethod
    def around(cls, now: datetime) -> Window:
        return cls(now - FEED_BACK, now + FEED_AHEAD)


def ics_priority(priority: int) -> int:
    """iCalendar's PRIORITY (1 highest .. 9 lowest) for a slot priority 0..100 (DESIGN §10)."""
    return min(9, max(1, round((100 - priority) / 10)))


async def agent_feed(
    source: FeedSource, agent_id: str, window: Window, *, timezone: ZoneInfo, stamp: datetime
) -> bytes:
    """The agent's ICS for `window`, read from `source` (its range list, a quarter at a time,
    and its series list)."""
    slots: list[Slot] = []
    start = window.start
    while start < window.end:
        end = min(window.end, start + timedelta(days=RANGE_MAX_DAYS))
        slots += await source.list_range(agent_id, start, end)
        start = end
    series = await source.list_series(agent_id)
    return build_feed(agent_id, slots, series, window, timezone=timezone, stamp=stamp)


def build_feed(
    agent_id: str,
    slots: Sequence[Slot],
    series: Iterable[Series],
    window: Window,
    *,
    timezone: ZoneInfo,
    stamp: datetime,
) -> bytes:
    """The VCALENDAR for `slots` (the range list of `window`) and the agent's `series`.

    `timezone` is the calendar's: single slots are written in it. `stamp` is DTSTAMP.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{agent_id} (calendar-moderator)")
    by_series: dict[str, list[Slot]] = {}
    singles: list[Slot] = []
    for slot in slots:
        if slot.series_id is None:
            singles.append(slot)
        else:
            by_series.setdefault(slot.series_id, []).append(slot)
    for one in series:
        listed = by_series.pop(one.id, [])
        if one.ended_at is not None and not listed:
            continue  # an ended series with nothing left in the window
        for event in _series_events(one, listed, window, stamp):
            calendar.add_component(event)
    for orphan in by_series.values():  # an occurrence whose series was not listed
        singles.extend(orphan)
    for slot in singles:
        calendar.add_component(_slot_event(slot, slot.id, timezone, stamp))
    calendar.add_missing_timezones(
        first_date=date(window.start.year - 1, 1, 1), last_date=date(window.end.year + 2, 1, 1)
    )
    ics: bytes = calendar.to_ical()
    return ics


def add_content(event: Component, content: SlotContent | NewSlotContent) -> None:
    """What a slot asks of its agent as VEVENT properties: the one form the feed serves and a
    CalDAV event is written in, so an app shows a slot the same whichever it reads."""
    event.add("DURATION", timedelta(minutes=content.estimated_duration_min))
    event.add("SUMMARY", content.title)
    if content.prompt:
        event.add("DESCRIPTION", content.prompt)
    event.add("PRIORITY", ics_priority(content.priority))
    event.add("X-MODERATOR-PRIORITY", str(content.priority))
    event.add("CATEGORIES", [content.slot_type])


def _with_fields(event: Event, slot: Slot | Series, stamp: datetime) -> Event:
    event.add("dtstamp", stamp.astimezone(UTC))
    add_content(event, slot)
    event.add("sequence", slot.version)
    event.add("last-modified", slot.updated_at.astimezone(UTC))
    return event


def _slot_event(slot: Slot, uid: str, zone: ZoneInfo, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstart", slot.scheduled_at.astimezone(zone))
    _with_fields(event, slot, stamp)
    cancelled = slot.status is SlotStatus.CANCELLED
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("x-moderator-status", slot.status.value)
    return event


def _series_events(
    series: Series, listed: Sequence[Slot], window: Window, stamp: datetime
) -> list[Event]:
    zone = ZoneInfo(series.timezone)
    try:
        recurrence = Recurrence.checked(
            series.rrule, series.start, series.timezone, tuple(series.exdates)
        )
    except SeriesRuleError:  # a rule this version cannot read: its occurrences stand alone
        return [_slot_event(slot, slot.id, zone, stamp) for slot in listed]
    master = Event()
    master.add("uid", series.id)
    master.add("dtstart", _wall(recurrence.start, zone))
    _with_fields(master, series, stamp)
    master.add("rrule", vRecur.from_ical(_feed_rule(series, recurrence, zone)))
    master.add("status", "CONFIRMED")
    master.add("x-moderator-status", SlotStatus.NOT_STARTED.value)
    listed_ids = {slot.id for slot in listed}
    left_out = set(recurrence.exdates)
    if recurrence.holds(recurrence.start) is None:
        left_out.add(recurrence.start)  # RFC 5545 counts DTSTART even where the rule does not
    for instance in recurrence.between(window.start, window.end):
        if occurrence_id(series.id, instance) not in listed_ids:
            left_out.add(instance.nominal)
    if left_out:
        master.add("exdate", [_wall(nominal, zone) for nominal in sorted(left_out)])
    events = [master]
    for slot in listed:
        split = split_occurrence_id(slot.id)
        if split is None or split[1] in recurrence.exdates:
            events.append(_slot_event(slot, slot.id, zone, stamp))
        elif not _as_series_makes_it(slot, series, place(split[1], zone)):
            changed = _slot_event(slot, series.id, zone, stamp)
            changed.add("recurrence-id", _wall(split[1], zone))
            events.append(changed)
    return events


def _as_series_makes_it(slot: Slot, series: Series, nominal_at: datetime) -> bool:
    """Whether the occurrence reads exactly as the series' RRULE would give it."""
    return (
        slot.status is SlotStatus.NOT_STARTED
        and slot.scheduled_at == nominal_at
        and all(getattr(slot, name) == getattr(series, name) for name in _COPIED)
    )


def _wall(nominal: datetime, zone: ZoneInfo) -> datetime:
    """A wall time written with its zone's TZID: fold 0, as the calendar places it (§3.1)."""
    return nominal.replace(tzinfo=zone, fold=0)


def _feed_rule(series: Series, recurrence: Recurrence, zone: ZoneInfo) -> str:
    """The rule as RFC 5545 writes it; an ended series ends at its last instance (UNTIL)."""
    last = None if series.ended_at is None else recurrence.latest(series.ended_at)
    if last is None:
        return _utc_until(series.rrule, zone)
    kept = [p for p in series.rrule.split(";") if p.partition("=")[0] not in ("COUNT", "UNTIL")]
    return ";".join([*kept, f"UNTIL={last.at.astimezone(UTC).strftime(OCCURRENCE_STAMP)}Z"])


def _utc_until(rule: str, zone: ZoneInfo) -> str:
    """The stored rule with its wall-time UNTIL written in UTC (RFC 5545, DTSTART has a TZID)."""
    parts = []
    for part in rule.split(";"):
        name, _, value = part.partition("=")
        if name == "UNTIL" and not value.endswith("Z"):
            wall = datetime.strptime(value, OCCURRENCE_STAMP)
            value = place(wall, zone).strftime(OCCURRENCE_STAMP) + "Z"
        parts.append(f"{name}={value}")
    return ";".join(parts)
