"""`/healthz` of a moderator whose calendar's changes reach it (DESIGN §4.1, §11).

While the news flows, the sync loop re-reads each agent's day only every
`SAFETY_RESYNC_S` (2 h) and heartbeats in between; an agent is as current as a
read would make it, so it counts as synced. A conformance review found `/healthz`
answering 503 "last synced 1200 s ago" 15 minutes after a healthy start.
"""

from __future__ import annotations

from bot.core.moderator import Moderator
from bot.metrics import ModeratorMetrics, health_report
from testkit.calendars import CallFault, FaultyCalendar
from testkit.wakers import RecordingWaker
from tests.core.conftest import ADA, BOB, Harness

INTERVAL_S = 300.0


async def started(harness: Harness, calendar: object) -> tuple[Moderator, ModeratorMetrics]:
    metrics = ModeratorMetrics(sync_interval_s=INTERVAL_S, discord=False)
    moderator = await harness.moderator(
        RecordingWaker(harness.clock),
        (ADA, BOB),
        start=False,
        calendar=calendar,
        changes=harness.calendar.changes,
    )
    metrics.watch(moderator)
    await moderator.start()
    moderator.start_loops(INTERVAL_S)
    return moderator, metrics


async def test_a_moderator_hearing_its_calendars_news_stays_healthy(harness: Harness) -> None:
    moderator, metrics = await started(harness, harness.calendar)
    assert moderator.news_flowing  # the calendar answers and its changes reach us
    await harness.clock.advance(2 * INTERVAL_S)
    assert health_report(metrics) == []
    await harness.clock.advance(2 * INTERVAL_S)  # past 3 x SYNC_INTERVAL_S since start
    assert moderator.news_flowing
    assert health_report(metrics) == []


async def test_heartbeats_the_calendar_does_not_answer_confirm_nothing(harness: Harness) -> None:
    faulty = FaultyCalendar(harness.calendar, harness.clock)
    _, metrics = await started(harness, faulty)
    assert health_report(metrics) == []
    faulty.faults.append(CallFault("heartbeat_many"))
    faulty.faults.append(CallFault("heartbeat"))
    await harness.clock.advance(3 * INTERVAL_S + 1)
    reasons = health_report(metrics)
    assert len(reasons) == 2 and all("3 x SYNC_INTERVAL_S" in r for r in reasons), reasons
