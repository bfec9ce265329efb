"""From one CalDAV resource to what the moderator's copy keeps (DESIGN §10).

Each VEVENT goes through the ICS import's conversion (the same field mapping,
ids and refusals: an all-day event, no DTSTART, an unknown TZID, an RRULE
finer than hourly), and a slot takes the state the moderator wrote into its
event, if any. A resource that cannot be read at all is one refusal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.calendar.caldav.objects import ObjectError, events_of, parse_object, state_of, uid_of
from bot.calendar.ics.convert import Refusal, convert_component, stable_id
from bot.calendar.store.imports import ImportedSeries, ImportedSlot

#: The largest calendar object read (a 10 MB DESCRIPTION is refused, not parsed).
MAX_OBJECT_CHARS = 1 << 20


@dataclass
class ObjectPlan:
    """What one resource holds for the agent: `ids` are the series and single slots it names."""

    href: str
    uid: str | None = None
    ids: set[str] = field(default_factory=set)
    series: list[ImportedSeries] = field(default_factory=list)
    slots: list[ImportedSlot] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


def plan_object(href: str, text: str, agent_id: str, zone: ZoneInfo) -> ObjectPlan:
    """The series, slots (with their states) and refusals of the resource at `href`."""
    plan = ObjectPlan(href)
    if len(text) > MAX_OBJECT_CHARS:
        plan.refusals.append(Refusal(href, f"too large: over {MAX_OBJECT_CHARS // 1024} KiB"))
        return plan
    try:
        calendar = parse_object(text)
    except ObjectError as exc:
        plan.refusals.append(Refusal(href, str(exc)))
        return plan
    plan.uid = uid_of(calendar)
    not_slots = events = 0
    for event in events_of(calendar):
        events += 1
        name = f"UID {str(event.get('UID', '?'))[:80]!r} ({href})"
        converted = convert_component(event, name, agent_id, zone)
        if isinstance(converted, Refusal):
            plan.refusals.append(converted)
            not_slots += converted.not_a_slot
        elif isinstance(converted, ImportedSeries):
            plan.series.append(converted)
        else:
            state = state_of(event)
            plan.slots.append(dataclasses.replace(converted, state=state))
    # The event's id stays named while any of it is planned, or it was refused as a mistake
    # (a typo in an RRULE must not end a series for good); an event that is now only what
    # the moderator does not plan (made all-day in the app) is gone, as if deleted.
    if plan.uid is not None and not_slots < events:
        plan.ids.add(stable_id(agent_id, plan.uid))
    return plan
