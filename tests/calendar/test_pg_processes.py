"""The PostgreSQL calendar as people run it (CALENDAR_URL=postgresql://…, DESIGN §11): bursts
of claims through the pool while the store is followed, the change watch when its LISTEN
connection goes, and claims and the feed across processes.

Several stores on one real database stand for several processes (moderators,
`calendar serve`), each with its own pool and its own LISTEN connection; the
database is the test worker's throw-away cluster (`testkit.postgres`), poked
with plain SQL where a test takes a connection away.

Four of these failed before the fixes they came with (a review of this backend): the
burst that deadlocked the pool, the burst after a quiet spell, the watch that said "live"
while it could not listen, and the reconnect wait that grew with every drop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence

import psycopg
import pytest

from bot.calendar.client import HttpCalendar
from bot.calendar.pg import gate as gate_module
from bot.calendar.pg.calendar import PgCalendar
from bot.calendar.pg.watch import PgChangeWatch
from bot.calendar.server import start_server
from bot.calendar.store.replays import REPLAY_TTL_S, KeptAnswer
from bot.core.calendar import SlotChanged, TransitionConflict
from bot.core.clock import FakeClock
from bot.core.models import Action, Slot, SlotStatus
from testkit.postgres import PgCluster
from testkit.retries import quick_retry
from tests.calendar.conftest import TZ, minutes, slot_body

WATCH_LOG = "bot.calendar.pg.watch"


async def _open(url: str, clock: FakeClock, **options: float) -> PgCalendar:
    return await PgCalendar.open_url(url, timezone=TZ, clock=clock, **options)  # type: ignore[arg-type]


@pytest.fixture
async def two(pg_url: str, clock: FakeClock) -> AsyncIterator[tuple[PgCalendar, PgCalendar]]:
    """Two processes' stores on one database: each its own pool and its own watch."""
    first, second = await _open(pg_url, clock), await _open(pg_url, clock)
    yield first, second
    await first.close()
    await second.close()


def _watch(store: PgCalendar) -> PgChangeWatch:
    assert isinstance(store.changes, PgChangeWatch)
    return store.changes


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _drop_listeners(cluster: PgCluster, database: str) -> None:
    """Terminate the LISTEN connections on `database` (an idle timeout, a proxy, a failover)."""
    cluster.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND query LIKE 'LISTEN %'"
    )


# ---- the pool's queue --------------------------------------------------------------------


@pytest.fixture
async def small_pool(pg_url: str, clock: FakeClock) -> AsyncIterator[PgCalendar]:
    """A store with a pool of two connections that gives up after 1 s without progress:
    a burst of a dozen claims is far more than it holds at once."""
    store = await _open(pg_url, clock, pool_size=2, pool_wait_s=1.0)
    yield store
    await store.close()


class QuietSpell:
    """`time` as the connection gate reads it, with an idle spell the test adds at will (the
    gate measures real monotonic time, which a test would otherwise have to sleep out)."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped


async def _one_due_slot_each(store: PgCalendar, clock: FakeClock, *, agents: int) -> list[Slot]:
    """A slot due a minute ago for each of `agents` agents: the top of the hour."""
    made = [await store.create_slot(slot_body(), agent_id=f"agent{i}") for i in range(agents)]
    await clock.advance(minutes(1).total_seconds())
    return made


async def _claims_refused(store: PgCalendar, slots: Sequence[Slot]) -> list[BaseException]:
    """Every slot claimed at once, as a check tick in which all are due claims them: the
    claims that failed (the calendar unavailable, a conflict)."""
    outcomes = await asyncio.gather(
        *(store.transition(s.id, Action.START, expected_version=s.version) for s in slots),
        return_exceptions=True,
    )
    return [outcome for outcome in outcomes if isinstance(outcome, BaseException)]


async def test_a_burst_after_a_quiet_spell_is_queued_not_refused(
    small_pool: PgCalendar, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The top of the hour after a quiet minute: more agents due at once than the pool has
    connections. Each claim holds a connection for milliseconds, so the queue moves, and
    every claim must be won (README, "every claim of the burst is won"). A gate that has seen
    no release for `POOL_WAIT_S` before the burst refuses every caller past the pool's size at
    once with "no connection came free", though none of them waited at all."""
    quiet = QuietSpell()
    monkeypatch.setattr(gate_module, "time", quiet)
    made = await _one_due_slot_each(small_pool, clock, agents=12)
    quiet.skipped += 60.0  # a quiet minute: no call needed a connection
    assert await _claims_refused(small_pool, made) == []


async def test_a_burst_of_claims_while_the_store_is_followed_is_queued_not_refused(
    small_pool: PgCalendar, clock: FakeClock
) -> None:
    """As the bot runs it: the moderator follows its PostgreSQL store's changes
    (`build_moderator` passes `calendar.changes`), and more agents are due at once than the
    pool has connections. Each write NOTIFYs, so the watch scans while the claims queue. With
    the production pool (10 connections, 5 s) 89 of 100 such claims failed after a 5 s stall;
    the bench (bench/scheduler_scale.py) follows nothing, so it never met this."""
    await small_pool.changes.follow(lambda _changes: None)
    await asyncio.wait_for(_watch(small_pool).listening.wait(), 10)
    made = await _one_due_slot_each(small_pool, clock, agents=20)
    assert await _claims_refused(small_pool, made) == []


async def test_a_burst_while_calls_flow_is_queued_and_every_claim_won(
    small_pool: PgCalendar, clock: FakeClock
) -> None:
    """The same burst with the gate's last step fresh (calls were just made): queued, every
    claim won, each slot started once. (The bench measures 10,000; here it is a unit.)"""
    made = await _one_due_slot_each(small_pool, clock, agents=12)
    assert await _claims_refused(small_pool, made) == []
    held = [await small_pool.get_slot(slot.id) for slot in made]
    assert {(slot.status, slot.version) for slot in held} == {(SlotStatus.ONGOING, 2)}


# ---- the change watch when its LISTEN connection goes ------------------------------------


async def test_a_watch_that_cannot_listen_says_so_or_still_sees_changes(
    pg_cluster: PgCluster, pg_url: str, two: tuple[PgCalendar, PgCalendar]
) -> None:
    """The LISTEN connection is dropped and cannot be made again (the database's connection
    slots taken by other processes' pools; here: `ALLOW_CONNECTIONS false`), while the pools'
    open connections still work. The moderator stops its full periodic syncs while
    `change_feed_up` (DESIGN §4.1: "the periodic sync is the safety net"), so the watch must
    either still see other processes' changes (through the pool it has) or say it is down."""
    follower, writer = two
    heard: asyncio.Queue[Sequence[SlotChanged]] = asyncio.Queue()
    await follower.changes.follow(heard.put_nowait)
    await asyncio.wait_for(_watch(follower).listening.wait(), 10)
    await writer.agent_ids()  # the writer's pool holds an open connection
    database = _database(pg_url)
    pg_cluster.sql(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
    try:
        _drop_listeners(pg_cluster, database)
        made = await writer.create_slot(slot_body(), agent_id="ada")
        seen: list[SlotChanged] = []
        deadline = asyncio.get_running_loop().time() + 7.0  # past one safety poll (5 s)
        while SlotChanged("ada", made.id) not in seen:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                seen.extend(await asyncio.wait_for(heard.get(), left))
            except TimeoutError:
                break
        assert SlotChanged("ada", made.id) in seen or not follower.changes.change_feed_up
    finally:
        pg_cluster.sql(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')


async def test_each_drop_of_the_listen_connection_is_retried_at_the_first_step(
    pg_cluster: PgCluster,
    pg_url: str,
    two: tuple[PgCalendar, PgCalendar],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A LISTEN connection that was up and is dropped (an idle-session timeout, a proxy: it
    never sends anything while it waits, so it looks idle) is made again after the first,
    shortest wait every time, not after a wait that grew with every drop in the process'
    life: while it waits, nothing is scanned, not even the safety poll."""
    follower, _ = two
    caplog.set_level(logging.WARNING, logger=WATCH_LOG)
    await follower.changes.follow(lambda _changes: None)
    listening = _watch(follower).listening
    await asyncio.wait_for(listening.wait(), 10)
    waits: list[str] = []
    for _ in range(4):
        _drop_listeners(pg_cluster, _database(pg_url))
        async with asyncio.timeout(10):
            while len(waits) == len(_lost_messages(caplog)):  # noqa: ASYNC110 - a log line
                await asyncio.sleep(0.01)
        waits = _lost_messages(caplog)
        await asyncio.wait_for(listening.wait(), 10)  # up again before the next drop
    assert all(message.endswith("again in 0.2s") for message in waits), waits


def _lost_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if "lost its database connection" in r.getMessage()
    ]


# ---- what holds: claims across processes, the feed across servers -----------------------


async def test_a_claim_re_sent_by_another_process_with_its_key_is_replayed(
    two: tuple[PgCalendar, PgCalendar], clock: FakeClock
) -> None:
    """A moderator's claim landed but its answer was lost, and the moderator restarted (a
    new process, a new pool): it re-sends the same `start` (same expected version, same claim
    key) and the database answers it as its own; another moderator's key is refused."""
    before, after = two
    slot = await before.create_slot(slot_body(), agent_id="ada")
    await before.transition(slot.id, Action.START, expected_version=1, idempotency_key="m1-c1")
    again = await after.transition(
        slot.id, Action.START, expected_version=1, idempotency_key="m1-c1"
    )
    assert (again.status, again.version) == (SlotStatus.ONGOING, 2)
    with pytest.raises(TransitionConflict) as rival:
        await after.transition(slot.id, Action.START, expected_version=1, idempotency_key="m2-c1")
    assert rival.value.code == "version_mismatch"
    assert [e.action for e in await after.slot_events(slot.id)].count("start") == 1


async def test_a_follower_of_one_server_hears_a_write_through_another(
    two: tuple[PgCalendar, PgCalendar],
) -> None:
    """Two `calendar serve` on one database: a moderator following server B's change feed
    hears a slot written through server A (A's commit NOTIFYs, B's watch LISTENs and wakes
    B's long poll), well before its long poll's own wait would end."""
    store_a, store_b = two
    runner_a, port_a = await start_server(store_a, "127.0.0.1", 0)
    runner_b, port_b = await start_server(store_b, "127.0.0.1", 0)
    writer = HttpCalendar(f"http://127.0.0.1:{port_a}", timezone=TZ, retry=quick_retry())
    follower = HttpCalendar(
        f"http://127.0.0.1:{port_b}", timezone=TZ, retry=quick_retry(), feed_wait_s=30
    )
    heard: asyncio.Queue[Sequence[SlotChanged]] = asyncio.Queue()
    try:
        await follower.follow(heard.put_nowait)
        made = await writer.create_slot(slot_body(), agent_id="ada")
        seen: list[SlotChanged] = []
        async with asyncio.timeout(10):  # a third of the long poll's wait
            while SlotChanged("ada", made.id) not in seen:
                seen.extend(await heard.get())
    finally:
        await follower.close()
        await writer.close()
        await runner_a.cleanup()
        await runner_b.cleanup()


async def test_an_answer_kept_by_one_server_is_found_by_another_until_it_is_old(
    two: tuple[PgCalendar, PgCalendar], clock: FakeClock, pg_url: str
) -> None:
    """Idempotency-Key answers live in the database (`replays`): a retry landing on another
    `calendar serve` of it gets the first answer; per caller; gone after REPLAY_TTL_S."""
    one, other = two
    first = KeptAnswer("sha-of-the-request", 201, b'{"id": "s-1"}')
    await one.keep_answer("agent:ada", "key-1", first)
    assert await other.earlier_answer("agent:ada", "key-1") == first
    assert await other.earlier_answer("agent:bob", "key-1") is None  # another caller's key
    await clock.advance(REPLAY_TTL_S + 1)
    assert await other.earlier_answer("agent:ada", "key-1") is None
    await other.keep_answer("agent:ada", "key-2", first)  # keeping prunes the old ones
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT idempotency_key FROM replays")
        assert await cur.fetchall() == [("key-2",)]
