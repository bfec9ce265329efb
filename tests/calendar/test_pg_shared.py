"""Several stores on one PostgreSQL database, as several servers and moderators are (DESIGN §11).

Each `PgCalendar` here has its own pool, as a process of its own would: the
database alone decides who wins a claim, every change reaches every store's
listeners through LISTEN/NOTIFY, a restart of the database is a
`CalendarUnavailable` (503) until it is back and loses nothing, and a pool with
no free connection answers `CalendarUnavailable` instead of waiting for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from bot.calendar.pg.calendar import PgCalendar
from bot.calendar.pg.probe import BUSY
from bot.core.calendar import CalendarUnavailable, SlotChanged, TransitionConflict
from bot.core.clock import FakeClock
from bot.core.models import Action, SeriesCreate, Slot, SlotStatus
from testkit.postgres import ADMIN_PASSWORD, start_cluster
from tests.calendar.conftest import START, TZ, minutes, slot_body

#: Moderators racing for the same due slots.
RACERS = 3
SLOTS = 30


async def _open(url: str, clock: FakeClock, **options: float) -> PgCalendar:
    return await PgCalendar.open_url(url, timezone=TZ, clock=clock, **options)  # type: ignore[arg-type]


@pytest.fixture
async def stores(pg_url: str, clock: FakeClock) -> AsyncIterator[list[PgCalendar]]:
    opened = [await _open(pg_url, clock) for _ in range(RACERS)]
    yield opened
    for store in opened:
        await store.close()


async def _claim(store: PgCalendar, slot_id: str, version: int) -> str | None:
    try:
        await store.transition(slot_id, Action.START, expected_version=version)
    except TransitionConflict as exc:
        return exc.code
    return "won"


async def test_many_due_slots_raced_by_three_stores_are_each_claimed_once(
    stores: list[PgCalendar], clock: FakeClock
) -> None:
    first = stores[0]
    made = [
        await first.create_slot(slot_body(START + minutes(i % 5)), agent_id=f"agent{i}")
        for i in range(SLOTS)
    ]
    await clock.advance(minutes(10).total_seconds())
    outcomes = await asyncio.gather(
        *(_claim(store, slot.id, slot.version) for slot in made for store in stores)
    )
    by_slot = [outcomes[i * RACERS : (i + 1) * RACERS] for i in range(SLOTS)]
    assert all(results.count("won") == 1 for results in by_slot), by_slot
    assert all(
        set(results) <= {"won", "version_mismatch", "invalid_transition"} for results in by_slot
    )
    for slot in made:
        assert (await stores[-1].get_slot(slot.id)).status is SlotStatus.ONGOING


async def test_one_agent_never_holds_two_slots_whichever_store_claims(
    stores: list[PgCalendar], clock: FakeClock
) -> None:
    made = [await stores[0].create_slot(slot_body(START), agent_id="ada") for _ in range(6)]
    outcomes = await asyncio.gather(
        *(_claim(stores[i % RACERS], slot.id, slot.version) for i, slot in enumerate(made))
    )
    assert outcomes.count("won") == 1 and outcomes.count("agent_busy") == len(made) - 1


async def test_a_series_ended_while_two_stores_claim_leaves_no_orphan(
    stores: list[PgCalendar], clock: FakeClock
) -> None:
    series = await stores[0].create_series(
        SeriesCreate(rrule="FREQ=HOURLY", start="2026-01-05T09:00", title="t", prompt="p"),
        agent_id="ada",
    )
    await clock.advance(minutes(30).total_seconds())
    due = await stores[1].heartbeat("ada", "idle")
    assert [slot.series_id for slot in due] == [series.id]
    occurrence = due[0]
    claims = [_claim(store, occurrence.id, occurrence.version) for store in stores[:2]]
    results = await asyncio.gather(*claims, stores[2].end_series(series.id))
    won = [r for r in results[:2] if r == "won"]
    final = await stores[0].get_slot(occurrence.id)
    # Either a claim came first (ONGOING, the end left it alone) or the end did (CANCELLED).
    assert (final.status, len(won)) in {(SlotStatus.ONGOING, 1), (SlotStatus.CANCELLED, 0)}
    assert (await stores[0].get_series(series.id)).ended_at is not None


async def test_a_change_in_one_store_reaches_the_others_listeners(
    stores: list[PgCalendar], clock: FakeClock
) -> None:
    heard: asyncio.Queue[Sequence[SlotChanged]] = asyncio.Queue()
    unfollow = await stores[1].changes.follow(heard.put_nowait)
    await asyncio.wait_for(stores[1].changes.listening.wait(), 10)  # type: ignore[attr-defined]
    slot = await stores[0].create_slot(slot_body(), agent_id="ada")
    changes = await asyncio.wait_for(heard.get(), 10)
    assert SlotChanged("ada", slot.id) in changes
    unfollow()


async def _when_back(store: PgCalendar, slot_id: str) -> Slot:
    for _ in range(300):
        try:
            return await store.get_slot(slot_id)
        except CalendarUnavailable:
            await asyncio.sleep(0.1)
    raise AssertionError("the store did not recover within 30 s of the database's return")


async def test_a_database_restart_is_unavailable_then_recovers_losing_nothing(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = start_cluster()
    try:
        url = cluster.url(cluster.new_database())
        store, other = await _open(url, clock, pool_wait_s=1), await _open(url, clock)
        heard: asyncio.Queue[Sequence[SlotChanged]] = asyncio.Queue()
        await store.changes.follow(heard.put_nowait)
        kept = await other.create_slot(slot_body(), agent_id="ada")
        cluster.stop()
        with pytest.raises(CalendarUnavailable) as caught:
            await store.get_slot(kept.id)
        assert "cannot be reached" in caught.value.detail
        cluster.start()
        # Back without anything but the database: the pool reconnects (lending only checked
        # connections), so a caller retrying its 503s gets the slot as it was.
        assert (await _when_back(store, kept.id)).version == kept.version
        made = await other.create_slot(slot_body(), agent_id="bob")
        # The watch reconnects, LISTENs again and re-reads: the change is heard.
        while True:
            changes = await asyncio.wait_for(heard.get(), 30)
            if SlotChanged("bob", made.id) in changes:
                break
        await store.close()
        await other.close()
        assert "lost its database connection" in caplog.text  # said, and without the password
        assert ADMIN_PASSWORD not in caplog.text
    finally:
        cluster.remove()


async def test_an_exhausted_pool_is_unavailable_not_a_hang(pg_url: str, clock: FakeClock) -> None:
    store = await _open(pg_url, clock, pool_size=1, pool_wait_s=0.2)
    try:
        async with store._read():  # holds the only connection
            with pytest.raises(CalendarUnavailable) as caught:
                await store.get_slot("nothing")
        assert "no connection came free in time" in caught.value.detail
        with pytest.raises(Exception) as missing:
            await store.get_slot("nothing")
        assert not isinstance(missing.value, CalendarUnavailable)
    finally:
        await store.close()


async def test_a_burst_of_pool_timeouts_shares_one_probe(pg_url: str, clock: FakeClock) -> None:
    """10,000 due slots once made one probe connection each, which stormed the server and
    turned "busy" into "unreachable" for all but ten claims."""
    store = await _open(pg_url, clock, pool_size=1, pool_wait_s=0.2)
    try:
        async with store._read():  # holds the only connection
            failures = await asyncio.gather(
                *(store.get_slot(f"s{i}") for i in range(40)), return_exceptions=True
            )
        assert all(isinstance(f, CalendarUnavailable) for f in failures)
        details = {f.detail for f in failures if isinstance(f, CalendarUnavailable)}
        assert details == {"calendar database unavailable: " + BUSY}
        assert store._reach.probes == 1
    finally:
        await store.close()
