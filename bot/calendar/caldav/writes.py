"""Every write of the CalDAV calendar: tried on the copy, PUT on the server, then copied.

A write is first tried on the local copy (`MirrorCalls.trial_*`: the embedded
store's checks and refusals, nothing kept), then written into the event and
PUT with `If-Match` (DESIGN §10). A 412 means the event changed on the server
since it was read (an app edit, another moderator's claim): the fresh event
is copied and the write tried again from there, so a slot now held under
another claim key is refused exactly as a 409 on `start` would be, and never
woken twice. Only what the server accepted is copied locally.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Unpack
from zoneinfo import ZoneInfo

from icalendar import Component

from bot.calendar.caldav.dav import PreconditionFailed, Resource
from bot.calendar.caldav.objects import (
    find_event,
    instance_of,
    new_object,
    parse_object,
    set_fields,
    set_rule,
    set_state,
    state_of,
    text_of,
)
from bot.calendar.caldav.sync import CalendarCopy
from bot.calendar.ics.convert import stable_id
from bot.calendar.store.mirrored import MirroredState
from bot.calendar.store.transitions import TransitionCall
from bot.core import models
from bot.core.calendar import (
    BadRequest,
    CalendarUnavailable,
    SlotNotFound,
    TransitionConflict,
    TransitionOptions,
)
from bot.core.series import place, split_occurrence_id

log = logging.getLogger(__name__)

#: Conditional PUTs tried before a write gives up as unavailable (each 412 re-reads first).
MAX_ATTEMPTS = 5
#: Edits the event, in place; answers nothing.
Change = Callable[[Component], None]


class EventWriter:
    """The write half of `CaldavCalendar`."""

    def __init__(self, copy: CalendarCopy) -> None:
        self.copy = copy

    @property
    def _zone(self) -> ZoneInfo:
        return self.copy.zone

    async def _target(self, slot_id: str, agent_id: str | None) -> tuple[str, str, datetime | None]:
        """(agent, href, nominal) of a slot: an occurrence is written into its series' event."""
        split = split_occurrence_id(slot_id)
        owner_id, nominal = (split[0], split[1]) if split is not None else (slot_id, None)
        if owner_id not in self.copy.where and split is not None:
            owner_id, nominal = slot_id, None  # an id that merely contains "_"
        where = self.copy.where.get(owner_id)
        if where is None or (agent_id is not None and where[0] != agent_id):
            await self.copy.mirror.get_slot(slot_id, agent_id)  # its SlotNotFound, if any
            raise SlotNotFound(f"slot {slot_id} has no event in the CalDAV calendar")
        return where[0], where[1], nominal

    async def _zone_of(self, slot_id: str, nominal: datetime | None) -> ZoneInfo:
        if nominal is None:
            return self._zone
        split = split_occurrence_id(slot_id)
        assert split is not None
        return ZoneInfo((await self.copy.mirror.get_series(split[0])).timezone)

    async def _put(self, agent_id: str, href: str, change: Change) -> bool:
        """Change the event at `href` and PUT it; False on 412 (the fresh event is copied)."""
        old = self.copy.objects.get(href) or await self.copy.dav.get(href)
        if old is None:
            raise SlotNotFound(f"the event {href} was deleted from the CalDAV calendar")
        calendar = parse_object(old.text)
        change(calendar)
        text = text_of(calendar)
        try:
            etag = await self.copy.dav.put(href, text, etag=old.etag)
        except PreconditionFailed:
            await self.copy.reread(agent_id, href)
            return False
        await self.copy.wrote(agent_id, href, Resource(href, etag, text))
        return True

    async def write_transition(
        self, slot_id: str, action: models.Action, **options: Unpack[TransitionOptions]
    ) -> models.Slot:
        call = TransitionCall.checked(slot_id, action, **options)
        try:
            agent_id, href, nominal = await self._target(slot_id, call.agent_id)
        except SlotNotFound:
            return await self._held_without_event(slot_id, action, options)
        zone = await self._zone_of(slot_id, nominal)
        async with self.copy.lock(agent_id):
            for _ in range(MAX_ATTEMPTS):
                outcome = await self.copy.mirror.trial_transition(call)
                if outcome.replayed:
                    return outcome.slot
                change = _state_change(call, outcome.slot, nominal, zone, self._zone)
                if await self._put(agent_id, href, change):
                    return await self.copy.mirror.get_slot(slot_id)
        raise _gave_up(slot_id)

    async def _held_without_event(
        self, slot_id: str, action: models.Action, options: TransitionOptions
    ) -> models.Slot:
        """A held slot whose event was deleted in the app while the agent worked on it: its
        end (DONE, an abort, the stuck rule's) is kept in the copy alone, or the agent would
        stay busy with it for good and none of its other events be woken. Anything else
        about a slot without an event is `SlotNotFound`."""
        slot = await self.copy.mirror.get_slot(slot_id, options.get("agent_id"))
        if not slot.status.is_active:
            raise SlotNotFound(f"slot {slot_id} has no event in the CalDAV calendar")
        async with self.copy.lock(slot.agent_id):
            done = await self.copy.mirror.transition(slot_id, action, **options)
        log.info(
            "CalDAV: agent %s: the event of slot %s was deleted from the calendar while it "
            "ran; %s is kept in the moderator's copy only",
            slot.agent_id,
            slot_id,
            action.value,
        )
        return done

    async def write_edit(
        self, slot_id: str, edit: models.SlotEdit, agent_id: str | None
    ) -> models.Slot:
        owner, href, nominal = await self._target(slot_id, agent_id)
        zone = await self._zone_of(slot_id, nominal)
        async with self.copy.lock(owner):
            for _ in range(MAX_ATTEMPTS):
                edited = await self.copy.mirror.trial_edit(slot_id, edit, agent_id)
                change = _content_change(edited, nominal, zone, self._zone)
                if await self._put(owner, href, change):
                    return await self.copy.mirror.get_slot(slot_id)
        raise _gave_up(slot_id)

    async def write_new_slot(self, new: models.SlotCreate, agent_id: str | None) -> models.Slot:
        owner, checked = self.copy.mirror.checked_new_slot(new, agent_id)
        uid, href = self._new_href(owner)

        def change(calendar: Component) -> None:
            event = find_event(calendar, None, self._zone)
            assert event is not None
            set_fields(event, checked, checked.scheduled_at, self._zone)

        async with self.copy.lock(owner):
            await self._create(owner, href, uid, change)
        return await self.copy.mirror.get_slot(stable_id(owner, uid))

    async def write_new_series(
        self, new: models.SeriesCreate, agent_id: str | None
    ) -> models.Series:
        owner, made = await self.copy.mirror.trial_series(new, agent_id)
        uid, href = self._new_href(owner)
        async with self.copy.lock(owner):
            await self._create(owner, href, uid, _series_change(made))
        return await self.copy.mirror.get_series(stable_id(owner, uid))

    async def write_series_edit(
        self, series_id: str, edit: models.SeriesEdit, agent_id: str | None
    ) -> models.Series:
        owner, href, _ = await self._target(series_id, agent_id)
        async with self.copy.lock(owner):
            for _ in range(MAX_ATTEMPTS):
                edited = await self.copy.mirror.trial_series_edit(series_id, edit, agent_id)
                if await self._put(owner, href, _series_change(edited)):
                    return await self.copy.mirror.get_series(series_id)
        raise _gave_up(series_id)

    async def write_series_end(self, series_id: str, agent_id: str | None) -> models.Series:
        owner, href, _ = await self._target(series_id, agent_id)
        async with self.copy.lock(owner):
            for _ in range(MAX_ATTEMPTS):
                series = await self.copy.mirror.get_series(series_id, agent_id)
                if series.ended_at is not None:
                    return series
                now = self.copy.now()
                if place(datetime.fromisoformat(series.start), ZoneInfo(series.timezone)) >= now:
                    # Ended before its first instance: nothing to keep, and a rule whose
                    # UNTIL is before its start has no instance, which servers refuse.
                    await self._delete(owner, href)
                    return await self.copy.mirror.get_series(series_id)
                if await self._put(owner, href, _series_change(series, until=now)):
                    return await self.copy.mirror.get_series(series_id)
        raise _gave_up(series_id)

    async def _delete(self, agent_id: str, href: str) -> None:
        old = self.copy.objects.get(href)
        try:
            await self.copy.dav.delete(href, etag=None if old is None else old.etag)
        except PreconditionFailed:  # changed in the app meanwhile: it goes all the same
            await self.copy.dav.delete(href, etag=None)
        await self.copy.wrote(agent_id, href, None)

    def _new_href(self, agent_id: str) -> tuple[str, str]:
        mark = self.copy.ledger.marks.get(agent_id)
        if mark is None:
            raise BadRequest(f"agent {agent_id} has no CalDAV calendar here", code="unknown_agent")
        name = uuid.uuid4().hex
        return f"{name}@calendar-moderator", f"{mark.href}{name}.ics"

    async def _create(self, agent_id: str, href: str, uid: str, change: Change) -> None:
        calendar, _ = new_object(uid)
        change(calendar)
        text = text_of(calendar)
        etag = await self.copy.dav.put(href, text, etag=None)
        await self.copy.wrote(agent_id, href, Resource(href, etag, text))


def _state_change(
    call: TransitionCall,
    result: models.Slot,
    nominal: datetime | None,
    zone: ZoneInfo,
    own: ZoneInfo,
) -> Change:
    """Write the transition's result into the slot's event: its state (the claim key set by
    `start`, kept while the claim holds) and, for a `defer` with `until`, its new time."""

    def change(calendar: Component) -> None:
        event = _event(calendar, nominal, zone)
        held = state_of(event)
        kept = held.claim_key if held is not None else None
        # A copy that had not yet seen another moderator's claim, end or newer status: lost,
        # never a second wake. Only a pending event, or one this claim holds, is ours to start.
        taken = (
            held is not None
            and not held.status.is_pending
            and not (held.status.is_active and kept == call.claim_key)
        )
        if call.action is models.Action.START and taken:
            raise TransitionConflict(
                f"slot {result.id} is held on the CalDAV server under another claim",
                code="invalid_transition",
            )
        claim = call.claim_key if call.action is models.Action.START else kept
        if call.new_time is not None:
            set_fields(event, result, result.scheduled_at, own)
        set_state(event, MirroredState(result.status, claim, call.note))

    return change


def _content_change(
    edited: models.Slot, nominal: datetime | None, zone: ZoneInfo, own: ZoneInfo
) -> Change:
    def change(calendar: Component) -> None:
        set_fields(_event(calendar, nominal, zone), edited, edited.scheduled_at, own)

    return change


def _series_change(series: models.Series, *, until: datetime | None = None) -> Change:
    """Write the series' content, start and rule into its master (ended at `until`)."""
    zone = ZoneInfo(series.timezone)

    def change(calendar: Component) -> None:
        event = _event(calendar, None, zone)
        start = place(datetime.fromisoformat(series.start), zone)
        set_fields(event, series, start, zone)
        set_rule(event, series, until=until)

    return change


def _event(calendar: Component, nominal: datetime | None, zone: ZoneInfo) -> Component:
    if nominal is not None:
        return instance_of(calendar, nominal, zone)
    event = find_event(calendar, None, zone)
    if event is None:
        raise SlotNotFound("its event has no master VEVENT in the CalDAV calendar")
    return event


def _gave_up(slot_id: str) -> CalendarUnavailable:
    return CalendarUnavailable(
        f"slot {slot_id}: its event kept changing on the CalDAV server; try again"
    )
