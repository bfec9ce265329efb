"""The cache (which holds slots packed) answers as a plain dict of `Slot` models would, after
any sequence of puts, day merges, removals and day roll-overs (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.core.cache import ScheduleCache
from bot.core.models import DaySchedule, Slot, SlotStatus

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
DAY = T0.date()
UTC_ZONE = ZoneInfo("UTC")

slots = st.builds(
    lambda sid, minutes, version, status, title: Slot(
        id=sid,
        agent_id="ada",
        scheduled_at=T0 + timedelta(minutes=minutes),
        version=version,
        status=status,
        updated_at=T0,
        title=title,
    ),
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.integers(-24 * 60, 3 * 24 * 60 - 1),  # yesterday to the day after tomorrow
    st.integers(1, 4),
    st.sampled_from(list(SlotStatus)),
    st.sampled_from(["", "stand-up", "review"]),
)
days = st.integers(-1, 2).map(lambda n: DAY + timedelta(days=n))
operations = st.one_of(
    st.tuples(st.just("put"), slots),
    st.tuples(st.just("merge"), days, st.lists(slots, max_size=4)),
    st.tuples(st.just("remove"), st.sampled_from(["a", "b", "c", "x"])),
    st.tuples(st.just("roll"), days),
)


class Reference:
    """The documented behaviour, on plain models."""

    def __init__(self) -> None:
        self.slots: dict[str, Slot] = {}

    def put(self, slot: Slot) -> None:
        held = self.slots.get(slot.id)
        if held is None or held.version < slot.version:
            self.slots[slot.id] = slot

    def merge(self, on: date, listed: list[Slot]) -> None:
        for slot in listed:
            self.put(slot)
        names = {slot.id for slot in listed}
        for sid, slot in list(self.slots.items()):
            if sid not in names and slot.scheduled_at.date() == on and not slot.status.is_active:
                del self.slots[sid]

    def roll(self, on: date) -> None:
        for sid, slot in list(self.slots.items()):
            if slot.scheduled_at.date() < on and slot.status.is_final:
                del self.slots[sid]

    def in_order(self) -> list[Slot]:
        return sorted(self.slots.values(), key=lambda s: (s.scheduled_at, s.id))


@given(st.lists(operations, max_size=25), st.integers(-24 * 60, 3 * 24 * 60))
def test_the_cache_answers_as_a_dict_of_models_would(ops: list[Any], now_min: int) -> None:
    cache = ScheduleCache("ada", UTC_ZONE, day=DAY)
    reference = Reference()
    now = T0 + timedelta(minutes=now_min)
    for op in ops:
        if op[0] == "put":
            cache.put(op[1])
            reference.put(op[1])
        elif op[0] == "merge":
            unique = list({slot.id: slot for slot in op[2]}.values())  # a day lists an id once
            cache.merge(DaySchedule(date=op[1], agent_id="ada", timezone="UTC", slots=unique))
            reference.merge(op[1], unique)
        elif op[0] == "remove":
            cache.remove(op[1])
            reference.slots.pop(op[1], None)
        else:
            cache.roll_to(op[1])
            reference.roll(op[1])

        expected = reference.in_order()
        assert cache.get_all() == expected
        assert [s.model_fields_set for s in cache.get_all()] == [
            s.model_fields_set for s in expected
        ]
        pending = [s for s in expected if s.status.is_pending]
        due = sorted(
            (s for s in pending if s.scheduled_at <= now), key=lambda s: (s.scheduled_at, s.id)
        )
        assert cache.get_due_slots(now) == due
        assert cache.next_due_at() == min((s.scheduled_at for s in pending), default=None)
        assert cache.pending_count == len(pending)
        assert cache.count(SlotStatus.DEFERRED) == sum(
            1 for s in expected if s.status is SlotStatus.DEFERRED
        )
        active = [s for s in expected if s.status.is_active]
        found = cache.active_slot()
        if not active:
            assert found is None
        else:
            rank = min((s.status is not SlotStatus.ONGOING, s.scheduled_at) for s in active)
            assert found in active
            assert found is not None
            assert (found.status is not SlotStatus.ONGOING, found.scheduled_at) == rank
