"""The check tick's memo (`AgentScheduler.needs_attention`): it may never hide a due slot.

The timers are off (`precise_timer=False`), so only `check_all` wakes: every change path
(a sync bringing a new or moved slot, a reply, a stuck deadline) must be seen by the next
tick, and the memo must answer as the full computation does at every step.
"""

from __future__ import annotations

from datetime import datetime

from bot.calendar.store import EmbeddedCalendar
from bot.core.events import SlotNudged
from bot.core.models import Action, SlotCreate, SlotStatus
from bot.core.moderator import Moderator
from testkit.clock import SettlingClock
from testkit.wakers import RecordingWaker
from tests.core.conftest import START, Harness, add_slot, minutes


def same_as_fresh(moderator: Moderator, now: datetime) -> bool:
    scheduler = moderator.scheduler("ada")
    memo = scheduler.needs_attention(now)
    assert memo == scheduler.checker.needs_attention(now)
    return memo


async def tick_at(moderator: Moderator, clock: SettlingClock, at: datetime) -> None:
    await clock.advance((at - clock.now()).total_seconds())
    same_as_fresh(moderator, at)
    await moderator.check_all()
    await clock.advance(0)


async def test_a_new_slot_and_a_slot_moved_earlier_are_woken_on_time(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    later = await add_slot(calendar, "ada", START + minutes(60))
    moderator = await harness.moderator(waker, precise_timer=False)
    await moderator.check_all()  # the memo: nothing before 10:00
    assert not same_as_fresh(moderator, START + minutes(30))
    new = await moderator.plan_slot(
        SlotCreate(
            agent_id="ada",
            scheduled_at=START + minutes(10),
            title="new",
            prompt="p",
            estimated_duration_min=5,
        )
    )
    await moderator.sync("ada")
    await tick_at(moderator, clock, START + minutes(10))
    assert waker.world.delivered() == [new.id]
    await moderator.apply_action(new.id, Action.COMPLETE, source="reply")
    await moderator.check_all()  # memo again, up to 10:00
    await moderator.move_slot(later.id, START + minutes(20))
    await moderator.sync("ada")
    await tick_at(moderator, clock, START + minutes(20))
    assert waker.world.delivered() == [new.id, later.id]


async def test_a_stuck_deadline_and_a_reply_are_seen_by_the_next_tick(
    harness: Harness, clock: SettlingClock, calendar: EmbeddedCalendar, waker: RecordingWaker
) -> None:
    held = await add_slot(calendar, "ada", START, minutes=30)
    waiting = await add_slot(calendar, "ada", START + minutes(5))
    moderator = await harness.moderator(waker, precise_timer=False)
    assert waker.world.delivered() == [held.id]
    await tick_at(moderator, clock, START + minutes(5))  # busy: deferred once
    assert (await calendar.get_slot(waiting.id)).status is SlotStatus.DEFERRED
    await moderator.check_all()  # the memo: busy, nothing before the stuck deadline
    assert not same_as_fresh(moderator, START + minutes(59))
    await tick_at(moderator, clock, START + minutes(60))  # 2 x 30 min of silence: nudge
    assert any(isinstance(e, SlotNudged) for e in harness.events)
    await moderator.check_all()
    await moderator.apply_action(held.id, Action.COMPLETE, source="reply")
    # idle now, the deferred slot is due: the very next tick wakes it, no time passing
    assert same_as_fresh(moderator, clock.now())
    await moderator.check_all()
    await clock.advance(0)
    assert waker.world.delivered() == [held.id, waiting.id]
