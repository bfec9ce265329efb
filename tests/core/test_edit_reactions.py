"""DESIGN §4: a slot cancelled, moved or edited before its wake is never woken at its old
time or with its old prompt; a slot moved earlier is woken at its new time.

Each change is made on the real embedded calendar (`edit_slot`, `transition`) and
reaches the moderator by a sync, as it would from another writer; the production
timers run on the fake clock.
"""

from __future__ import annotations

from bot.calendar.store import EmbeddedCalendar
from bot.core.models import Action, Slot, SlotEdit, SlotStatus
from bot.core.moderator import Moderator
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import START, Harness, add_slot, minutes


def cached(moderator: Moderator, slot_id: str) -> Slot:
    """The slot as the moderator's cache holds it (what its timer and checks read)."""
    found = moderator.scheduler("ada").cache.get(slot_id)
    assert found is not None, f"slot {slot_id} is not in the cache"
    return found


async def test_a_cancelled_slot_is_never_woken(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(10))
    kept = await add_slot(calendar, "ada", START + minutes(40))
    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker)
    await calendar.transition(slot.id, Action.CANCEL, agent_id="ada")
    await moderator.sync_all()
    assert cached(moderator, slot.id).status is SlotStatus.CANCELLED
    await clock.advance(minutes(30).total_seconds())
    assert waker.calls == []
    assert (await calendar.get_slot(slot.id)).status is SlotStatus.CANCELLED
    await clock.advance(minutes(15).total_seconds())
    assert waker.calls == [kept.id]


async def test_a_slot_moved_later_is_woken_at_its_new_time_only(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(10))
    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker)
    await calendar.edit_slot(slot.id, SlotEdit(scheduled_at=START + minutes(30)))
    await moderator.sync_all()
    assert cached(moderator, slot.id).scheduled_at == START + minutes(30)
    await clock.advance(minutes(25).total_seconds())
    assert waker.calls == []
    await clock.advance(minutes(10).total_seconds())
    assert waker.world.times() == {slot.id: START + minutes(30)}


async def test_a_slot_moved_earlier_is_woken_at_its_new_time_by_the_rearmed_timer(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(50))
    waker = RecordingWaker(clock)
    # An hour-long safety net: only the precise timer, re-armed by the sync, is on time.
    moderator = await harness.moderator(waker, check_interval_s=3600.0)
    await clock.advance(60)
    await calendar.edit_slot(slot.id, SlotEdit(scheduled_at=START + minutes(5)))
    await moderator.sync_all()
    await clock.advance(minutes(10).total_seconds())
    assert waker.world.times() == {slot.id: START + minutes(5)}


async def test_an_edited_prompt_is_the_one_posted(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    slot = await add_slot(calendar, "ada", START + minutes(10), title="stand-up")
    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker)
    await moderator.sync_all()  # the old prompt is in the cache
    await calendar.edit_slot(
        slot.id, SlotEdit(prompt="read the new brief", expected_version=slot.version)
    )
    await moderator.sync_all()
    assert cached(moderator, slot.id).prompt == "read the new brief"
    await clock.advance(minutes(11).total_seconds())
    [(woken, _, prompt)] = waker.world.deliveries
    assert woken == slot.id
    assert prompt == "stand-up: read the new brief"


async def test_a_deferred_slot_moved_is_woken_at_its_new_time(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar
) -> None:
    long_one = await add_slot(calendar, "ada", START, minutes=600)
    waiting = await add_slot(calendar, "ada", START + minutes(5))
    waker = RecordingWaker(clock)
    moderator = await harness.moderator(waker)
    await clock.advance(minutes(6).total_seconds())
    assert (await calendar.get_slot(waiting.id)).status is SlotStatus.DEFERRED
    moved = await calendar.edit_slot(waiting.id, SlotEdit(scheduled_at=START + minutes(60)))
    assert moved.status is SlotStatus.NOT_STARTED
    await moderator.sync_all()
    assert cached(moderator, waiting.id).status is SlotStatus.NOT_STARTED
    await moderator.apply_action(long_one.id, Action.COMPLETE, source="reply")
    await clock.advance(minutes(30).total_seconds())  # idle now, but the slot is not due
    assert waker.calls == [long_one.id]
    await clock.advance(minutes(30).total_seconds())
    assert waker.world.times()[waiting.id] == START + minutes(60)
