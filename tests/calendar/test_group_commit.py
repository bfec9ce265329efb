"""The embedded calendar's group commit: shared commits, separate answers.

Writes queued together share one transaction (`bot.calendar.store.group_commit`);
these tests check that each caller still gets its own outcome: the claim race
decided per slot, a refused step storing nothing, a failed commit failing only
its own round and losing nothing committed before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiosqlite
import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.calendar.store.group_commit import GroupCommit
from bot.calendar.store.in_thread import Step
from bot.core.calendar import BadRequest, CalendarUnavailable, TransitionConflict
from bot.core.models import Action, Slot, SlotStatus
from tests.calendar.conftest import slot_body


@pytest.fixture
async def db() -> AsyncIterator[aiosqlite.Connection]:
    """A scratch table `t`, whose deferred foreign key can fail a COMMIT."""
    db = await aiosqlite.connect(":memory:", isolation_level=None)
    await db.execute("PRAGMA foreign_keys = ON")
    await db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await db.execute(
        "CREATE TABLE t (v INTEGER UNIQUE, p INTEGER "
        "REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def commits(db: aiosqlite.Connection) -> AsyncIterator[GroupCommit]:
    """The group commit over `db`, drained before `db` closes (pytest tears it down first)."""
    committed: list[None] = []

    async def told() -> None:
        committed.append(None)

    commits = GroupCommit(db, asyncio.Lock(), told)
    try:
        yield commits
    finally:
        await commits.drain()


def _insert(value: int, parent: int | None = None) -> Step[int]:
    async def step(db: aiosqlite.Connection) -> int:
        await db.execute("INSERT INTO t (v, p) VALUES (?, ?)", (value, parent))
        return value

    return step


async def _values(db: aiosqlite.Connection) -> list[int]:
    return [int(row[0]) for row in await db.execute_fetchall("SELECT v FROM t ORDER BY v")]


async def test_writes_queued_together_share_one_round(
    db: aiosqlite.Connection, commits: GroupCommit
) -> None:
    answers = await asyncio.gather(*(commits.write(_insert(v)) for v in range(40)))
    assert answers == list(range(40))
    assert commits.writes == 40
    assert commits.rounds < 40  # shared: fewer commits than writes
    assert await _values(db) == list(range(40))


async def test_a_refused_step_stores_nothing_and_fails_only_its_caller(
    db: aiosqlite.Connection, commits: GroupCommit
) -> None:
    async def refused(db: aiosqlite.Connection) -> None:
        await db.execute("INSERT INTO t (v) VALUES (100)")
        raise BadRequest("no", code="validation_error")

    answers = await asyncio.gather(
        commits.write(_insert(1)),
        commits.write(refused),
        commits.write(_insert(1)),  # a duplicate: SQLite refuses it, only it
        commits.write(_insert(2)),
        return_exceptions=True,
    )
    assert answers[0] == 1 and answers[3] == 2
    assert isinstance(answers[1], BadRequest)  # the step's own error, as it raised it
    assert isinstance(answers[2], CalendarUnavailable)
    assert await _values(db) == [1, 2]  # neither the refused step's 100 nor the duplicate


async def test_a_failed_commit_fails_its_round_and_keeps_the_rounds_before(
    db: aiosqlite.Connection, commits: GroupCommit
) -> None:
    assert await commits.write(_insert(1)) == 1
    # The deferred foreign key passes every statement and fails only the COMMIT.
    answers = await asyncio.gather(
        commits.write(_insert(2)), commits.write(_insert(3, parent=99)), return_exceptions=True
    )
    assert all(isinstance(answer, CalendarUnavailable) for answer in answers)
    assert await _values(db) == [1]
    assert await commits.write(_insert(4)) == 4  # the next round is unharmed
    assert await _values(db) == [1, 4]


async def test_a_step_awaiting_anything_but_the_connection_fails_alone(
    db: aiosqlite.Connection, commits: GroupCommit
) -> None:
    async def strays(db: aiosqlite.Connection) -> None:
        await db.execute("INSERT INTO t (v) VALUES (7)")
        await asyncio.sleep(0)

    answers = await asyncio.gather(
        commits.write(strays), commits.write(_insert(8)), return_exceptions=True
    )
    assert isinstance(answers[0], RuntimeError)
    assert answers[1] == 8
    assert await _values(db) == [8]


async def _slots(store: EmbeddedCalendar, agents: int) -> list[Slot]:
    return [await store.create_slot(slot_body(agent_id=f"agent{i}")) for i in range(agents)]


async def test_many_claims_at_once_each_get_their_own_answer(store: EmbeddedCalendar) -> None:
    slots = await _slots(store, 30)
    rounds = store._commits.rounds
    contested = slots[0]
    claims = [store.transition(s.id, Action.START, idempotency_key=f"k-{s.id}") for s in slots]
    claims.append(store.transition(contested.id, Action.START, idempotency_key="rival"))
    claims.append(store.transition("no-such-slot", Action.START))
    answers = await asyncio.gather(*claims, return_exceptions=True)
    assert store._commits.rounds - rounds < len(claims)  # they did share commits
    for slot, answer in zip(slots, answers[:30], strict=True):
        assert isinstance(answer, Slot) and answer.status is SlotStatus.ONGOING, answer
        assert answer.version == slot.version + 1
    rival, missing = answers[30], answers[31]
    assert isinstance(rival, TransitionConflict) and rival.code == "invalid_transition"
    assert type(missing).__name__ == "SlotNotFound"
    history = await store.slot_events(contested.id)
    assert [event.action for event in history] == ["create", "start"]  # one claim, once
    held = await store.get_slot(contested.id)
    assert held.version == contested.version + 1


async def test_two_slots_of_one_agent_claimed_in_one_round_one_wins(
    store: EmbeddedCalendar,
) -> None:
    first = await store.create_slot(slot_body(agent_id="solo"))
    second = await store.create_slot(slot_body(agent_id="solo"))
    answers = await asyncio.gather(
        store.transition(first.id, Action.START),
        store.transition(second.id, Action.START),
        return_exceptions=True,
    )
    assert isinstance(answers[0], Slot)
    assert isinstance(answers[1], TransitionConflict) and answers[1].code == "agent_busy"
    assert (await store.get_slot(second.id)).status is SlotStatus.NOT_STARTED


async def test_writes_after_close_are_refused(store: EmbeddedCalendar) -> None:
    await store.close()
    with pytest.raises(CalendarUnavailable):
        await store.heartbeat("agent0", "idle")


async def test_an_unreadable_file_is_unavailable_not_a_traceback(
    store: EmbeddedCalendar,
) -> None:
    await store._db.execute("DROP TABLE heartbeats")
    with pytest.raises(CalendarUnavailable) as raised:
        await store.agent_status("agent0")
    assert "heartbeats" in str(raised.value.detail)
    with pytest.raises(CalendarUnavailable):
        await store.heartbeat("agent0", "idle")


async def test_a_step_runs_alike_through_aiosqlite_and_in_one_trip(
    db: aiosqlite.Connection, commits: GroupCommit
) -> None:
    async def step(conn: aiosqlite.Connection) -> tuple[int | None, int, list[int]]:
        await conn.executemany("INSERT INTO t (v) VALUES (?)", [(1,), (2,)])
        cursor = await conn.execute("INSERT INTO t (v) VALUES (3)")
        last = cursor.lastrowid
        await cursor.close()
        async with conn.execute("SELECT v FROM t ORDER BY v") as rows:
            first = await rows.fetchone()
            rest = await rows.fetchall()
        assert first is not None
        return last, int(first[0]), [int(row[0]) for row in rest]

    in_one_trip = await commits.write(step)
    await db.execute("DELETE FROM t")
    assert in_one_trip == await step(db) == (3, 1, [2, 3])
