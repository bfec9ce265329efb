"""Hypothesis over series on the embedded store: random series, edits, claims and ends.

Whatever the order, an occurrence is never listed twice and a claimed one is
never lost (it keeps the state its claim and its completion gave it).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import SlotNotFound, TransitionConflict
from bot.core.clock import FakeClock
from bot.core.models import Action, HeartbeatStatus, SeriesCreate, SeriesEdit, SlotStatus
from tests.calendar.conftest import TZ
from tests.calendar.properties import replayable

RULES = ["FREQ=HOURLY;INTERVAL=7", "FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,WE,SU"]
STARTS = ["2026-03-28T02:30", "2026-10-24T02:30", "2026-03-29T09:00"]
OPS = st.lists(
    st.tuples(st.sampled_from(["advance", "claim", "edit", "exdate", "end"]), st.integers(1, 30)),
    max_size=12,
)
BEGIN = datetime(2026, 3, 27, tzinfo=UTC)


async def _run(rule: str, start: str, ops: list[tuple[str, int]]) -> None:
    clock = FakeClock(BEGIN)
    cal = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=clock)
    try:
        made = await cal.create_series(
            SeriesCreate(rrule=rule, start=start, timezone="Europe/Berlin"), agent_id="ada"
        )
        kept: dict[str, SlotStatus] = {}
        held: str | None = None
        for op, n in ops:
            if op == "advance":
                clock.jump(n * 3600)
            elif op == "claim":
                if held is not None:
                    await cal.transition(held, Action.COMPLETE, agent_id="ada")
                    kept[held], held = SlotStatus.FINISHED, None
                due = await cal.heartbeat("ada", HeartbeatStatus.IDLE)
                assert len({s.series_id for s in due}) == len(due)  # one per series
                for slot in due:
                    try:
                        await cal.transition(slot.id, Action.START, agent_id="ada")
                    except (TransitionConflict, SlotNotFound):
                        continue
                    kept[slot.id], held = SlotStatus.ONGOING, slot.id
                    break
            elif op == "edit":
                with contextlib.suppress(TransitionConflict):  # ended
                    await cal.edit_series(made.id, SeriesEdit(title=f"t{n}"))
            elif op == "exdate":
                wall = (clock.now() + timedelta(days=n)).astimezone(TZ)
                text = f"{wall:%Y-%m-%d}T{start[11:]}"
                with contextlib.suppress(TransitionConflict):
                    await cal.edit_series(made.id, SeriesEdit(exdates=[text]))
            else:
                await cal.end_series(made.id)
            window = await cal.list_range("ada", BEGIN, BEGIN + timedelta(days=60))
            ids = [s.id for s in window]
            assert len(ids) == len(set(ids))
            for slot_id, status in kept.items():
                assert (await cal.get_slot(slot_id)).status is status
                assert slot_id in ids
    finally:
        await cal.close()


@replayable(max_examples=25, suppress=[HealthCheck.function_scoped_fixture])
@given(rule=st.sampled_from(RULES), start=st.sampled_from(STARTS), ops=OPS)
def test_no_occurrence_twice_and_no_claim_lost(
    rule: str, start: str, ops: list[tuple[str, int]]
) -> None:

    asyncio.run(_run(rule, start, ops))
