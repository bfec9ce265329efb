"""DESIGN §3 as behaviour: the same tests over the embedded store and over client + server."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.core.calendar import (
    BadRequest,
    Calendar,
    SlotNotFound,
    TransitionConflict,
)
from bot.core.models import Action, AgentState, HeartbeatStatus, SlotStatus
from tests.calendar.conftest import START, TZ, Backend, minutes, slot_body

DAY = START.date()


async def test_backend_implements_the_protocol(backend: Backend) -> None:
    assert isinstance(backend.cal, Calendar)
    assert backend.cal.timezone == TZ


# ---- create / get ---------------------------------------------------------


async def test_create_fills_server_fields_and_defaults(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(), agent_id="alice")
    assert slot.id
    assert slot.agent_id == "alice"
    assert slot.scheduled_at == START
    assert slot.scheduled_at.utcoffset() is not None
    assert slot.status is SlotStatus.NOT_STARTED
    assert slot.version == 1
    assert slot.updated_at == backend.clock.now()
    assert (slot.estimated_duration_min, slot.priority, slot.slot_type) == (30, 50, "work")
    assert slot.event_data == {}
    assert slot.title == "write the report"
    assert slot.prompt == "Summarise yesterday's changes."


async def test_create_keeps_every_given_field(backend: Backend) -> None:
    body = slot_body(
        agent_id="bob",
        estimated_duration_min=90,
        priority=100,
        slot_type="review",
        event_data={"ticket": 42, "tags": ["a", "b"], "nested": {"x": None}},
    )
    slot = await backend.cal.create_slot(body)
    again = await backend.cal.get_slot(slot.id)
    assert again == slot
    assert (again.agent_id, again.estimated_duration_min, again.priority) == ("bob", 90, 100)
    assert again.slot_type == "review"
    assert again.event_data == {"ticket": 42, "tags": ["a", "b"], "nested": {"x": None}}


async def test_create_ids_are_unique(backend: Backend) -> None:
    ids = {(await backend.cal.create_slot(slot_body(), agent_id="alice")).id for _ in range(20)}
    assert len(ids) == 20


async def test_create_refuses_missing_or_conflicting_agent(backend: Backend) -> None:
    with pytest.raises(BadRequest) as missing:
        await backend.cal.create_slot(slot_body())
    assert missing.value.code == "missing_agent_id"
    with pytest.raises(BadRequest) as mismatch:
        await backend.cal.create_slot(slot_body(agent_id="alice"), agent_id="bob")
    assert mismatch.value.code == "agent_mismatch"
    with pytest.raises(BadRequest) as bad:
        await backend.cal.create_slot(slot_body(), agent_id="Not An Id!")
    assert bad.value.code == "invalid_agent_id"
    assert await backend.store.list_slots() == []


async def test_get_slot_unknown_or_other_agents_is_not_found(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(), agent_id="alice")
    assert (await backend.cal.get_slot(slot.id, agent_id="alice")).id == slot.id
    with pytest.raises(SlotNotFound):
        await backend.cal.get_slot(slot.id, agent_id="bob")
    with pytest.raises(SlotNotFound):
        await backend.cal.get_slot("0000000000000000")


# ---- the day ----------------------------------------------------------------


async def test_day_lists_only_that_agents_slots_on_that_local_day(backend: Backend) -> None:
    late = await backend.cal.create_slot(slot_body(START + minutes(120)), agent_id="alice")
    early = await backend.cal.create_slot(slot_body(START - minutes(60)), agent_id="alice")
    await backend.cal.create_slot(slot_body(START), agent_id="bob")
    await backend.cal.create_slot(slot_body(START + timedelta(days=1)), agent_id="alice")
    result = await backend.cal.get_day("alice", DAY)
    assert result.schedule is not None
    assert result.schedule.date == DAY
    assert result.schedule.agent_id == "alice"
    assert result.schedule.timezone == "Asia/Shanghai"
    assert [s.id for s in result.schedule.slots] == [early.id, late.id]
    assert result.etag and result.etag.startswith('"') and result.etag.endswith('"')


async def test_day_boundaries_follow_the_calendars_zone(backend: Backend) -> None:
    # 23:30 and 00:10 local are 15:30 and 16:10 UTC: the same UTC date, different local ones.
    before_midnight = datetime(2026, 1, 5, 23, 30, tzinfo=TZ)
    after_midnight = datetime(2026, 1, 6, 0, 10, tzinfo=TZ)
    assert before_midnight.astimezone(UTC).date() == after_midnight.astimezone(UTC).date()
    a = await backend.cal.create_slot(slot_body(before_midnight), agent_id="alice")
    b = await backend.cal.create_slot(slot_body(after_midnight), agent_id="alice")
    # Given in UTC, the instant still lands on its local day.
    c = await backend.cal.create_slot(
        slot_body(datetime(2026, 1, 4, 16, 0, tzinfo=UTC), allow_past=True), agent_id="alice"
    )  # 00:00 local on the 5th: the first instant of the day belongs to it
    day5 = (await backend.cal.get_day("alice", date(2026, 1, 5))).schedule
    day6 = (await backend.cal.get_day("alice", date(2026, 1, 6))).schedule
    day4 = (await backend.cal.get_day("alice", date(2026, 1, 4))).schedule
    assert day5 is not None and day6 is not None and day4 is not None
    assert [s.id for s in day5.slots] == [c.id, a.id]
    assert [s.id for s in day6.slots] == [b.id]
    assert day4.slots == []
    assert day5.slots[1].scheduled_at == before_midnight


async def test_etag_is_stable_and_answers_unchanged(backend: Backend) -> None:
    await backend.cal.create_slot(slot_body(), agent_id="alice")
    first = await backend.cal.get_day("alice", DAY)
    second = await backend.cal.get_day("alice", DAY)
    assert first.etag == second.etag
    unchanged = await backend.cal.get_day("alice", DAY, etag=first.etag)
    assert unchanged.unchanged and unchanged.schedule is None
    assert unchanged.etag == first.etag


async def test_etag_changes_after_any_change_in_the_day(backend: Backend) -> None:
    cal = backend.cal
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    etags = [(await cal.get_day("alice", DAY)).etag]

    async def changed_since_last() -> None:
        result = await cal.get_day("alice", DAY, etag=etags[-1])
        assert not result.unchanged, "the day changed but the etag did not"
        assert result.etag not in etags
        etags.append(result.etag)

    await cal.create_slot(slot_body(START + minutes(30)), agent_id="alice")
    await changed_since_last()
    await cal.transition(slot.id, Action.START, expected_version=1)
    await changed_since_last()
    await cal.transition(slot.id, Action.PAUSE)
    await changed_since_last()
    # A change elsewhere (another day, another agent) leaves this day's etag alone.
    await cal.create_slot(slot_body(START + timedelta(days=2)), agent_id="alice")
    await cal.create_slot(slot_body(START), agent_id="bob")
    assert (await cal.get_day("alice", DAY, etag=etags[-1])).unchanged


async def test_etag_changes_when_a_slot_is_deferred_out_of_the_day(backend: Backend) -> None:
    cal = backend.cal
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    before = await cal.get_day("alice", DAY)
    moved = await cal.transition(slot.id, Action.DEFER, until=START + timedelta(days=1))
    assert moved.scheduled_at == START + timedelta(days=1)
    after = await cal.get_day("alice", DAY, etag=before.etag)
    assert after.schedule is not None and after.schedule.slots == []
    nextday = await cal.get_day("alice", DAY + timedelta(days=1))
    assert nextday.schedule is not None and [s.id for s in nextday.schedule.slots] == [slot.id]


async def test_etag_of_one_day_does_not_match_another(backend: Backend) -> None:
    monday = await backend.cal.get_day("alice", DAY)
    tuesday = await backend.cal.get_day("alice", DAY + timedelta(days=1), etag=monday.etag)
    assert not tuesday.unchanged


# ---- transitions -------------------------------------------------------------


async def test_a_full_life_bumps_version_once_per_change(backend: Backend) -> None:
    cal, clock = backend.cal, backend.clock
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    steps = [
        (Action.START, SlotStatus.ONGOING),
        (Action.PAUSE, SlotStatus.PAUSED),
        (Action.RESUME, SlotStatus.ONGOING),
        (Action.COMPLETE, SlotStatus.FINISHED),
    ]
    version = slot.version
    for action, status in steps:
        await clock.advance(60)
        slot = await cal.transition(slot.id, action, expected_version=version, note=f"{action}")
        assert slot.status is status
        assert slot.version == version + 1
        assert slot.updated_at == clock.now()
        version = slot.version
    assert (await cal.get_slot(slot.id)) == slot


async def test_refused_transition_is_409_with_the_current_slot(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(), agent_id="alice")
    with pytest.raises(TransitionConflict) as refused:
        await backend.cal.transition(slot.id, Action.COMPLETE)
    assert refused.value.code == "invalid_transition"
    assert refused.value.slot is not None
    assert refused.value.slot.status is SlotStatus.NOT_STARTED
    assert refused.value.slot.version == 1
    assert "NOT_STARTED" in str(refused.value)
    assert (await backend.cal.get_slot(slot.id)).version == 1


async def test_version_mismatch_is_409_and_changes_nothing(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(), agent_id="alice")
    with pytest.raises(TransitionConflict) as stale:
        await backend.cal.transition(slot.id, Action.START, expected_version=7)
    assert stale.value.code == "version_mismatch"
    assert stale.value.slot is not None and stale.value.slot.version == 1
    unchanged = await backend.cal.get_slot(slot.id)
    assert (unchanged.status, unchanged.version) == (SlotStatus.NOT_STARTED, 1)


async def test_abort_from_every_non_final_status_and_never_after(backend: Backend) -> None:
    cal = backend.cal
    paths = {
        SlotStatus.NOT_STARTED: [],
        SlotStatus.DEFERRED: [Action.DEFER],
        SlotStatus.ONGOING: [Action.START],
        SlotStatus.PAUSED: [Action.START, Action.PAUSE],
    }
    for i, (status, path) in enumerate(paths.items()):
        slot = await cal.create_slot(slot_body(), agent_id=f"agent{i}")
        for action in path:
            slot = await cal.transition(slot.id, action)
        assert slot.status is status
        aborted = await cal.transition(slot.id, Action.ABORT, note="no longer needed")
        assert aborted.status is SlotStatus.ABORTED
        for action in Action:
            with pytest.raises((TransitionConflict, BadRequest)):
                await cal.transition(slot.id, action, expected_version=aborted.version)
    finished = await cal.create_slot(slot_body(), agent_id="zed")
    await cal.transition(finished.id, Action.START)
    await cal.transition(finished.id, Action.COMPLETE)
    with pytest.raises(TransitionConflict) as again:
        await cal.transition(finished.id, Action.ABORT)
    assert again.value.code == "invalid_transition"


async def test_defer_with_until_reschedules_and_without_keeps_time(backend: Backend) -> None:
    cal = backend.cal
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    deferred = await cal.transition(slot.id, Action.DEFER, note="agent busy")
    assert (deferred.status, deferred.scheduled_at, deferred.version) == (
        SlotStatus.DEFERRED,
        START,
        2,
    )
    later = START + minutes(45)
    again = await cal.transition(slot.id, Action.DEFER, until=later, expected_version=2)
    assert (again.status, again.scheduled_at, again.version) == (SlotStatus.DEFERRED, later, 3)
    with pytest.raises(BadRequest) as wrong:
        await cal.transition(slot.id, Action.START, until=later)
    assert wrong.value.code == "until_only_for_defer"
    started = await cal.transition(slot.id, Action.START, expected_version=3)
    assert started.status is SlotStatus.ONGOING


async def test_release_needs_expected_version_and_gives_the_slot_back(backend: Backend) -> None:
    cal = backend.cal
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    claimed = await cal.transition(slot.id, Action.START, expected_version=1)
    with pytest.raises(BadRequest) as missing:
        await cal.transition(slot.id, Action.RELEASE)
    assert missing.value.code == "expected_version_required"
    with pytest.raises(TransitionConflict) as stale:
        await cal.transition(slot.id, Action.RELEASE, expected_version=1)
    assert stale.value.code == "version_mismatch"
    released = await cal.transition(
        slot.id, Action.RELEASE, expected_version=claimed.version, note="wake failed"
    )
    assert (released.status, released.version) == (SlotStatus.DEFERRED, 3)
    # Given back, it can be claimed again; the agent is no longer busy with it.
    assert (await cal.transition(slot.id, Action.START, expected_version=3)).version == 4


async def test_transition_unknown_slot_wrong_agent_unknown_action(backend: Backend) -> None:
    cal = backend.cal
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    with pytest.raises(SlotNotFound):
        await cal.transition("ffffffffffffffff", Action.START)
    with pytest.raises(SlotNotFound):
        await cal.transition(slot.id, Action.START, agent_id="bob")
    with pytest.raises(BadRequest) as unknown:
        await cal.transition(slot.id, "explode")  # type: ignore[arg-type]
    assert unknown.value.code == "unknown_action"
    ok = await cal.transition(slot.id, Action.START, agent_id="alice")
    assert ok.status is SlotStatus.ONGOING


async def test_start_race_gives_exactly_one_claim(backend: Backend) -> None:
    cal = backend.cal
    for round_ in range(5):
        slot = await cal.create_slot(slot_body(), agent_id=f"racer{round_}")
        results = await asyncio.gather(
            *(cal.transition(slot.id, Action.START, expected_version=1) for _ in range(3)),
            return_exceptions=True,
        )
        wins = [r for r in results if not isinstance(r, BaseException)]
        losses = [r for r in results if isinstance(r, BaseException)]
        assert len(wins) == 1, results
        assert all(isinstance(e, TransitionConflict) for e in losses), losses
        assert {e.code for e in losses if isinstance(e, TransitionConflict)} == {"version_mismatch"}
        final = await cal.get_slot(slot.id)
        assert (final.status, final.version) == (SlotStatus.ONGOING, 2)


# ---- the claim key (Idempotency-Key of start) ----------------------------------


async def starts_of(backend: Backend, slot_id: str) -> int:
    return sum(1 for e in await backend.store.slot_events(slot_id) if e.action == "start")


async def test_a_start_repeating_the_claim_key_is_answered_with_the_slot_as_it_is(
    backend: Backend,
) -> None:
    cal = backend.cal
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    claimed = await cal.transition(
        slot.id, Action.START, agent_id="alice", expected_version=1, idempotency_key="claim-a"
    )
    assert (claimed.status, claimed.version) == (SlotStatus.ONGOING, 2)
    # the same claim again (its answer was lost): ours, nothing applied twice
    again = await cal.transition(
        slot.id, Action.START, agent_id="alice", expected_version=1, idempotency_key="claim-a"
    )
    assert again == claimed
    # another claim at the same version: refused, as without keys
    with pytest.raises(TransitionConflict) as other:
        await cal.transition(slot.id, Action.START, expected_version=1, idempotency_key="claim-b")
    assert other.value.code == "version_mismatch"
    with pytest.raises(TransitionConflict):
        await cal.transition(slot.id, Action.START, expected_version=1)
    # the claim holds through pause: a replay answers the slot as it is now
    paused = await cal.transition(slot.id, Action.PAUSE)
    replay = await cal.transition(
        slot.id, Action.START, expected_version=1, idempotency_key="claim-a"
    )
    assert replay == paused and replay.status is SlotStatus.PAUSED
    assert await starts_of(backend, slot.id) == 1
    # ended, the claim is over: the key no longer answers 200
    await cal.transition(slot.id, Action.COMPLETE)
    with pytest.raises(TransitionConflict) as ended:
        await cal.transition(slot.id, Action.START, expected_version=1, idempotency_key="claim-a")
    assert ended.value.slot is not None and ended.value.slot.status is SlotStatus.FINISHED


async def test_a_released_claims_key_no_longer_answers(backend: Backend) -> None:
    cal = backend.cal
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    await cal.transition(slot.id, Action.START, expected_version=1, idempotency_key="k1")
    await cal.transition(slot.id, Action.RELEASE, expected_version=2)
    with pytest.raises(TransitionConflict) as stale:
        await cal.transition(slot.id, Action.START, expected_version=1, idempotency_key="k1")
    assert stale.value.code == "version_mismatch"
    # claimed anew by someone else: still not the old key's
    await cal.transition(slot.id, Action.START, expected_version=3, idempotency_key="k2")
    with pytest.raises(TransitionConflict):
        await cal.transition(slot.id, Action.START, expected_version=1, idempotency_key="k1")
    # a claim key is the slot's: the same key on another slot is just a claim
    other = await cal.create_slot(slot_body(), agent_id="bob")
    taken = await cal.transition(other.id, Action.START, expected_version=1, idempotency_key="k2")
    assert taken.status is SlotStatus.ONGOING
    assert await starts_of(backend, slot.id) == 2


async def test_a_replayed_claim_still_needs_the_right_agent(backend: Backend) -> None:
    cal = backend.cal
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    await cal.transition(slot.id, Action.START, agent_id="alice", idempotency_key="k")
    with pytest.raises(SlotNotFound):
        await cal.transition(slot.id, Action.START, agent_id="bob", idempotency_key="k")


async def test_agent_busy_race_gives_one_slot_per_agent(backend: Backend) -> None:
    cal = backend.cal
    first = await cal.create_slot(slot_body(), agent_id="alice")
    second = await cal.create_slot(slot_body(), agent_id="alice")
    results = await asyncio.gather(
        cal.transition(first.id, Action.START, expected_version=1),
        cal.transition(second.id, Action.START, expected_version=1),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, TransitionConflict)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert losses[0].code == "agent_busy"
    loser_slot = losses[0].slot
    assert loser_slot is not None and loser_slot.status is SlotStatus.NOT_STARTED
    # PAUSED still holds the agent; ending the slot frees it.
    held = wins[0]
    await cal.transition(held.id, Action.PAUSE)
    with pytest.raises(TransitionConflict) as still:
        await cal.transition(loser_slot.id, Action.START)
    assert still.value.code == "agent_busy"
    await cal.transition(held.id, Action.COMPLETE)
    assert (await cal.transition(loser_slot.id, Action.START)).status is SlotStatus.ONGOING


async def test_agent_busy_is_per_agent(backend: Backend) -> None:
    cal = backend.cal
    a = await cal.create_slot(slot_body(), agent_id="alice")
    b = await cal.create_slot(slot_body(), agent_id="bob")
    started = await asyncio.gather(
        cal.transition(a.id, Action.START), cal.transition(b.id, Action.START)
    )
    assert [s.status for s in started] == [SlotStatus.ONGOING, SlotStatus.ONGOING]


# ---- heartbeat and agent status ---------------------------------------------------


async def test_heartbeat_answers_the_agents_due_pending_slots(backend: Backend) -> None:
    cal, clock = backend.cal, backend.clock
    now = clock.now()
    due_low = await cal.create_slot(slot_body(now - minutes(5), priority=10), agent_id="alice")
    due_high = await cal.create_slot(slot_body(now - minutes(1), priority=90), agent_id="alice")
    exactly_now = await cal.create_slot(slot_body(now, priority=10), agent_id="alice")
    future = await cal.create_slot(slot_body(now + minutes(5)), agent_id="alice")
    deferred = await cal.create_slot(slot_body(now - minutes(30)), agent_id="alice")
    await cal.transition(deferred.id, Action.DEFER)
    ended = await cal.create_slot(slot_body(now - minutes(30)), agent_id="alice")
    await cal.transition(ended.id, Action.ABORT)
    await cal.create_slot(slot_body(now - minutes(5)), agent_id="bob")

    due = await cal.heartbeat("alice", HeartbeatStatus.IDLE)
    assert [s.id for s in due] == [due_high.id, deferred.id, due_low.id, exactly_now.id]
    assert all(s.agent_id == "alice" for s in due)

    await clock.advance(5 * 60)
    later = await cal.heartbeat("alice", HeartbeatStatus.IDLE)
    assert future.id in {s.id for s in later}


async def test_status_offline_idle_busy_offline(backend: Backend) -> None:
    cal, clock = backend.cal, backend.clock
    never = await cal.agent_status("alice")
    assert (never.status, never.current_slot_id, never.last_heartbeat_at) == (
        AgentState.OFFLINE,
        None,
        None,
    )
    await cal.heartbeat("alice", HeartbeatStatus.IDLE)
    idle = await cal.agent_status("alice")
    assert idle.status is AgentState.IDLE
    assert idle.last_heartbeat_at == clock.now()

    await cal.heartbeat("alice", HeartbeatStatus.BUSY, current_slot_id="external-1")
    busy = await cal.agent_status("alice")
    assert (busy.status, busy.current_slot_id) == (AgentState.BUSY, "external-1")

    await clock.advance(9 * 60 + 59)
    assert (await cal.agent_status("alice")).status is AgentState.BUSY
    await clock.advance(2)  # 10 min 1 s since the last heartbeat: it no longer counts
    stale = await cal.agent_status("alice")
    assert stale.status is AgentState.OFFLINE
    assert stale.last_heartbeat_at == clock.now() - timedelta(seconds=601)
    assert (await cal.agent_status("bob")).status is AgentState.OFFLINE


async def test_status_busy_while_a_slot_is_held_even_without_heartbeat(backend: Backend) -> None:
    cal, clock = backend.cal, backend.clock
    slot = await cal.create_slot(slot_body(), agent_id="alice")
    await cal.transition(slot.id, Action.START)
    held = await cal.agent_status("alice")
    assert (held.status, held.current_slot_id) == (AgentState.BUSY, slot.id)
    await cal.transition(slot.id, Action.PAUSE)
    assert (await cal.agent_status("alice")).status is AgentState.BUSY
    # An idle heartbeat does not hide the held slot.
    await cal.heartbeat("alice", HeartbeatStatus.IDLE)
    assert (await cal.agent_status("alice")).current_slot_id == slot.id
    await cal.transition(slot.id, Action.COMPLETE)
    assert (await cal.agent_status("alice")).status is AgentState.IDLE
    await clock.advance(11 * 60)
    assert (await cal.agent_status("alice")).status is AgentState.OFFLINE


async def test_bad_agent_ids_are_refused_on_agent_calls(backend: Backend) -> None:
    cal = backend.cal
    with pytest.raises(BadRequest) as day:
        await cal.get_day("Bad Agent", DAY)
    with pytest.raises(BadRequest) as beat:
        await cal.heartbeat("Bad Agent", HeartbeatStatus.IDLE)
    with pytest.raises(BadRequest) as status:
        await cal.agent_status("Bad Agent")
    assert {day.value.code, beat.value.code, status.value.code} == {"invalid_agent_id"}
