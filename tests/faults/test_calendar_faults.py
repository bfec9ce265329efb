"""The calendar misbehaves; the moderator stays up, says so in its status, and loses nothing.

Each test runs a real `Moderator` with the real `HttpCalendar` against the real
calendar server on loopback, with a fault switched on in front of the server
for a while. While the fault lasts `moderator.status(agent)` shows it; once it
is gone every due slot ends woken exactly once (counted per slot id by the
recording waker) and finished, claimed once at the calendar, and no agent ever
held two slots (checked after every step by the rig).
"""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from bot.core.models import SlotStatus
from testkit.http_faults import HttpFault, any_call, is_claim
from tests.faults.conftest import ADA, BOB, SYNC_INTERVAL_S, Rig, failing, healthy


def shows_the_fault(
    rig: Rig, fault: HttpFault, caplog: pytest.LogCaptureFixture, fault_began: datetime, *words: str
) -> None:
    """While the fault lasts, the status (whole-calendar faults) or the log (claims only) says so.

    A fault on claims alone leaves syncs working, and `AgentSnapshot` has no field
    for a failed claim, so the log is where it shows: naming the slot and the cause.
    """
    assert rig.server.switch.hits[fault.kind] > 0, "the fault was never hit"
    moderator = rig.moderators[0]
    if fault.applies is any_call:
        for agent in (ADA, BOB):
            assert failing(moderator.status(agent.id), *words), moderator.status(agent.id)
        return
    # syncs went on working through the fault (checked loosely: a loaded machine may time
    # out one of them too)
    last_sync = moderator.status(ADA.id).last_sync_at
    assert last_sync is not None and last_sync > fault_began
    told = [
        r.getMessage()
        for r in caplog.records
        if "calendar failed during the check (claim " in r.getMessage()
    ]
    assert told and all(w.lower() in told[0].lower() for w in words), told


async def a_day(rig: Rig) -> None:
    """Two agents, five slots: two due in the same minute, the rest spread over a few minutes."""
    await rig.add_slots(ADA, 1, 4)
    await rig.add_slots(ADA, 1, priority=80)
    await rig.add_slots(BOB, 2, 6)


async def through_a_spell_of(
    rig: Rig,
    fault: HttpFault,
    caplog: pytest.LogCaptureFixture,
    spell_s: float,
    *words: str,
    **moderator_options: float,
) -> None:
    """A day and a moderator on a working calendar, then `fault` for `spell_s` seconds:
    the status or the log shows it, in `words` (see `shows_the_fault`)."""
    await a_day(rig)
    await rig.server.start()
    await rig.moderator(**moderator_options)
    rig.server.fail(fault)
    began = rig.clock.now()
    with caplog.at_level(logging.WARNING):
        await rig.run(spell_s)
    shows_the_fault(rig, fault, caplog, began, *words)


async def nothing_woken_then_nothing_lost(rig: Rig, fault: HttpFault) -> None:
    """A whole-calendar fault wakes nobody; once it is gone, every slot ends as it should."""
    if fault.applies is any_call:
        assert not rig.wakes()
    rig.server.fail(None)
    await rig.run_until_done()
    await rig.assert_nothing_lost()


async def test_calendar_down_at_start(rig: Rig) -> None:
    await a_day(rig)
    moderator = await rig.moderator()  # the server is not listening yet
    for agent in (ADA, BOB):
        snap = moderator.status(agent.id)
        assert failing(snap, "CalendarUnavailable"), snap
        assert snap.last_sync_at is None
        assert not snap.busy

    await rig.run(5 * 60)  # every slot but one falls due while the calendar is away
    assert not rig.wakes()
    assert moderator.status(ADA.id).consecutive_sync_failures >= 2

    await rig.server.start()
    await rig.run_until_done()
    await rig.assert_nothing_lost()
    assert healthy(moderator.status(ADA.id)) and healthy(moderator.status(BOB.id))


async def test_calendar_down_for_a_while(rig: Rig) -> None:
    await a_day(rig)
    await rig.server.start()
    moderator = await rig.moderator()
    assert healthy(moderator.status(ADA.id))
    await rig.run(90)  # ADA's two 1-minute slots fall due: one is woken
    before = rig.wakes()
    assert before

    await rig.server.stop()
    await rig.run(8 * 60)  # the rest fall due during the outage
    for agent in (ADA, BOB):
        assert failing(moderator.status(agent.id), "CalendarUnavailable")
    assert rig.wakes() == before  # nothing can be claimed without the calendar

    await rig.server.start()
    await rig.run_until_done()
    await rig.assert_nothing_lost()
    assert healthy(moderator.status(ADA.id)) and healthy(moderator.status(BOB.id))


@pytest.mark.parametrize(
    "fault",
    [
        HttpFault("slow", delay_s=0.6),
        # only claims are slow: `start` runs at the calendar after the client gave up
        HttpFault("slow", applies=is_claim, delay_s=0.6),
        # claims are made in time but their answers come back too late
        HttpFault("slow", applies=is_claim, after=True, delay_s=0.6),
    ],
    ids=["everything-late", "claims-processed-late", "claim-answers-late"],
)
async def test_calendar_slower_than_the_client_timeout(
    rig: Rig, fault: HttpFault, caplog: pytest.LogCaptureFixture
) -> None:
    # every timed-out call costs real time: keep the spell short (ADA's first two fall due)
    spell_s = 100 if fault.applies is any_call else 3 * 60
    await through_a_spell_of(rig, fault, caplog, spell_s, "timed out", client_timeout_s=0.25)

    rig.server.fail(None)
    await rig.run_until_done()
    await rig.assert_nothing_lost()


@pytest.mark.parametrize(
    "fault",
    [
        HttpFault("status", status=500),
        HttpFault("status", status=503),
        # the claim went through but its answer was a 500: the moderator must find out
        HttpFault("status", status=500, applies=is_claim, after=True),
    ],
    ids=["500", "503", "claim-done-then-500"],
)
async def test_calendar_answering_server_errors(
    rig: Rig, fault: HttpFault, caplog: pytest.LogCaptureFixture
) -> None:
    await through_a_spell_of(rig, fault, caplog, 8 * 60, f"HTTP {fault.status}")
    await nothing_woken_then_nothing_lost(rig, fault)


@pytest.mark.parametrize(
    "fault",
    [
        HttpFault("garbage"),
        HttpFault("garbage", applies=is_claim, after=True),
    ],
    ids=["every-answer", "claim-done-then-garbage"],
)
async def test_calendar_answering_malformed_json(
    rig: Rig, fault: HttpFault, caplog: pytest.LogCaptureFixture
) -> None:
    await through_a_spell_of(rig, fault, caplog, 8 * 60, "malformed", "not JSON")
    await nothing_woken_then_nothing_lost(rig, fault)


async def test_slots_with_missing_fields_in_a_day(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await a_day(rig)
    bad_time = (await rig.add_slots(BOB, 3))[0]
    bad_id = (await rig.add_slots(ADA, 2))[0]
    await rig.server.start()
    # one slot loses its time, the other its id (it cannot even be named in the log)
    rig.server.fail(
        HttpFault("drop_fields", drop={bad_time.id: ("scheduled_at",), bad_id.id: ("id",)})
    )
    moderator = await rig.moderator()
    with caplog.at_level(logging.WARNING):
        await rig.run(20 * 60)
        rig_slots = {s.id: s for s in await rig.store.list_slots()}

    # the good slots were woken and finished meanwhile; the two bad ones were not
    good = [s.id for s in rig.slots if s.id not in {bad_time.id, bad_id.id}]
    assert all(rig.wakes()[slot_id] == 1 for slot_id in good), rig.wakes()
    assert rig.wakes()[bad_time.id] == 0 and rig.wakes()[bad_id.id] == 0
    assert rig_slots[bad_time.id].status is SlotStatus.NOT_STARTED
    assert rig_slots[bad_id.id].status is SlotStatus.NOT_STARTED
    skipped = [r.getMessage() for r in caplog.records if "malformed slot" in r.getMessage()]
    assert any(bad_time.id in text and "scheduled_at" in text for text in skipped), skipped
    assert any("id unknown" in text for text in skipped), skipped
    # the day itself synced fine: a skipped slot shows in the log, not in the status
    assert moderator.status(ADA.id).last_sync_at is not None

    rig.server.fail(None)
    await rig.run_until_done(ceiling_s=2 * 3600 + SYNC_INTERVAL_S)
    await rig.assert_nothing_lost()
