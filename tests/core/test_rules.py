"""The pure scheduling rules (bot/core/rules.py): no calendar, no clock, no event loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.core.models import Slot, SlotStatus
from bot.core.rules import (
    CALENDAR_RETRY_BASE_S,
    StuckStep,
    calendar_retry_delay,
    due_since,
    misfired,
    overdue,
    pick,
    stuck_deadline,
    stuck_verdict,
    undeferred,
    wake_retry_delay,
)
from testkit.slots import slot_at

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def slot(
    slot_id: str,
    *,
    priority: int = 0,
    at: datetime = T0,
    status: SlotStatus = SlotStatus.NOT_STARTED,
) -> Slot:
    """Titled with its id, priority 0 unless given, last updated at T0 wherever it is."""
    return slot_at(at, slot_id, title=slot_id, priority=priority, status=status, updated_at=T0)


def test_pick_prefers_priority_then_time_then_id() -> None:
    later_top = slot("z", priority=5, at=T0 + timedelta(minutes=5))
    early_top = slot("y", priority=5)
    tie = slot("x", priority=5)
    low = slot("a", priority=1, at=T0 - timedelta(hours=1))
    assert pick([low, later_top, early_top, tie]) == tie
    assert pick([low, later_top]) == later_top
    assert pick([]) is None


def test_undeferred_leaves_out_the_session_deferrals_in_order() -> None:
    due = [slot("a"), slot("b"), slot("c")]
    assert [s.id for s in undeferred(due, {"b"})] == ["a", "c"]
    assert undeferred(due, {"a", "b", "c"}) == []


def test_misfire_only_for_a_not_started_slot_past_the_grace() -> None:
    late = slot_at(T0 - timedelta(seconds=61), "a")  # planned in time, seen 61 s after it
    assert misfired(late, T0, 60.0)
    assert not misfired(late, T0, None)  # no grace configured: never a misfire
    assert not misfired(slot_at(T0 - timedelta(seconds=60), "b"), T0, 60.0)
    deferred = slot_at(T0 - timedelta(hours=1), "c", status=SlotStatus.DEFERRED)
    assert not misfired(deferred, T0, 60.0)


def test_misfire_lateness_counts_from_the_later_of_its_time_and_its_planning_or_move() -> None:
    """DESIGN §4: a slot planned (or moved) into the past is due from then, not late from
    its time; `created_at` or `updated_at`, whichever is later, says when."""
    an_hour_ago = T0 - timedelta(hours=1)
    planned_late = slot_at(an_hour_ago, "a", created_at=T0 - timedelta(seconds=30))
    assert due_since(planned_late) == T0 - timedelta(seconds=30)
    assert not misfired(planned_late, T0, 60.0)
    moved_late = slot_at(an_hour_ago, "b", updated_at=T0 - timedelta(seconds=90))
    assert misfired(moved_late, T0, 60.0) and not misfired(moved_late, T0, 90.0)
    v1 = slot_at(an_hour_ago, "c")  # a v1 calendar: no created_at, updated at its time
    assert due_since(v1) == an_hour_ago and misfired(v1, T0, 60.0)


def test_stuck_rule_waits_nudges_once_then_aborts() -> None:
    est = 30
    assert stuck_verdict(T0, False, est, T0 + timedelta(minutes=59)).step is StuckStep.WAIT
    nudge = stuck_verdict(T0, False, est, T0 + timedelta(minutes=60))
    assert (nudge.step, nudge.deadline, nudge.silence) == (
        StuckStep.NUDGE,
        T0 + timedelta(minutes=60),
        timedelta(minutes=60),
    )
    assert stuck_verdict(T0, True, est, T0 + timedelta(minutes=90)).step is StuckStep.WAIT
    assert stuck_deadline(T0, True, est) == T0 + timedelta(minutes=120)
    assert stuck_verdict(T0, True, est, T0 + timedelta(minutes=120)).step is StuckStep.ABORT
    # silence past 4x aborts even when the nudge never went out
    assert stuck_verdict(T0, False, est, T0 + timedelta(minutes=121)).step is StuckStep.ABORT
    assert overdue(T0, est, T0 + timedelta(minutes=60))
    assert not overdue(T0, est, T0 + timedelta(minutes=59))


def test_calendar_retry_starts_at_the_base_and_doubles() -> None:
    assert [calendar_retry_delay(n, 30.0) for n in (1, 2, 3, 4)] == [
        CALENDAR_RETRY_BASE_S,
        10.0,
        20.0,
        30.0,
    ]


@given(
    streak=st.integers(min_value=1, max_value=200),
    cap=st.floats(min_value=1.0, max_value=3600.0),
)
def test_calendar_retry_is_monotone_and_capped(streak: int, cap: float) -> None:
    delay = calendar_retry_delay(streak, cap)
    assert 0 < delay <= cap
    assert calendar_retry_delay(streak + 1, cap) >= delay


@given(
    failures=st.integers(min_value=1, max_value=200),
    base=st.floats(min_value=0.5, max_value=120.0),
    extra=st.floats(min_value=0.0, max_value=3600.0),
)
def test_wake_retry_is_monotone_and_capped(failures: int, base: float, extra: float) -> None:
    ceiling = base + extra
    delay = wake_retry_delay(failures, base, ceiling)
    assert base <= delay <= ceiling
    assert wake_retry_delay(failures + 1, base, ceiling) >= delay
    assert wake_retry_delay(1, base, ceiling) == base


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10), st.integers(min_value=0, max_value=600)),
        min_size=1,
        max_size=20,
    )
)
def test_pick_takes_a_slot_of_the_highest_priority_and_earliest_among_them(
    shapes: list[tuple[int, int]],
) -> None:
    slots = [
        slot(f"s{i:02d}", priority=p, at=T0 + timedelta(seconds=s))
        for i, (p, s) in enumerate(shapes)
    ]
    chosen = pick(slots)
    assert chosen is not None
    top = max(s.priority for s in slots)
    assert chosen.priority == top
    assert chosen.scheduled_at == min(s.scheduled_at for s in slots if s.priority == top)
