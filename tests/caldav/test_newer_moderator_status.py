"""From a review of the day's `SlotStatus.UNKNOWN`, for a calendar on a CalDAV server (Radicale).

A status this version does not know, written by a newer one, now reads as UNKNOWN, "not
wakeable" (DESIGN §3), when it comes from a served calendar (`Slot`'s status validator).
On a CalDAV calendar the moderators share their slots' states through each event's
`X-MODERATOR-STATUS`, and there `objects.state_of` still reads an unknown one as no state
at all: the slot is one no moderator acted on, pending, and this moderator claims it,
writing ONGOING over the newer moderator's status.

The review's failing tests; each passes since its fix.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.calendar.ics.convert import stable_id
from bot.core.calendar import TransitionConflict
from bot.core.clock import FakeClock
from bot.core.models import Action
from testkit.radicale import DavHome
from tests.caldav.app import CalendarApp, event, ics_time
from tests.caldav.conftest import open_calendar
from tests.caldav.test_app_changes import NOW

AT = NOW + timedelta(minutes=5)
JOB = stable_id("ada", "job")
#: What a newer moderator may write into the event: a status this version does not know.
NEWER_STATUS = "X-MODERATOR-STATUS:SNOOZED"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=NOW)


async def test_a_status_a_newer_moderator_wrote_into_the_event_is_not_wakeable(
    dav_home: DavHome, clock: FakeClock
) -> None:
    app = CalendarApp(dav_home)
    await app.make_calendar("ada")
    await app.put("ada", "job", event("job", f":{ics_time(AT)}", NEWER_STATUS))
    calendar = await open_calendar(dav_home, clock)
    try:
        await clock.advance(600)
        slot = await calendar.get_slot(JOB)
        assert not slot.status.is_pending, slot.status
        with pytest.raises(TransitionConflict):
            await calendar.transition(JOB, Action.START, idempotency_key="claim-a")
    finally:
        await calendar.close()
    stored = await app.get("ada", "job")
    assert stored is not None and NEWER_STATUS in stored
