"""Group commit of the state file: concurrent writes share commits, each answered once durable.

Durable here means: in the file, seen by another connection (what a process
that starts after a crash would read).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from bot.core.clock import FakeClock
from bot.core.state import StateError, StateStore


@pytest.fixture
async def state(tmp_path: Path, clock: FakeClock) -> AsyncIterator[StateStore]:
    store = await StateStore.open(tmp_path / "s.db", clock=clock)
    yield store
    await store.close()


def _links_on_disk(path: str) -> dict[str, int]:
    """What another connection reads from the file right now."""
    with closing(sqlite3.connect(path)) as other:
        return dict(other.execute("SELECT slot_id, channel_id FROM channel_links").fetchall())


async def test_a_burst_of_writes_shares_one_commit_and_each_is_durable_when_answered(
    state: StateStore,
) -> None:
    async def link(n: int) -> None:
        await state.save_channel(f"s{n}", "ada", 1000 + n)
        # No await between the answer and this look: the row must already be in the file.
        assert _links_on_disk(state.path).get(f"s{n}") == 1000 + n

    await asyncio.gather(*(link(n) for n in range(50)))
    assert state.commits.writes == 50
    assert state.commits.rounds == 1  # all 50 queued before the first round started
    assert len(await state.all_links()) == 50


async def test_writes_arriving_during_a_commit_ride_the_next_one(state: StateStore) -> None:
    first = asyncio.gather(*(state.save_channel(f"a{n}", "ada", n) for n in range(5)))
    await asyncio.sleep(0)  # the first round is under way
    second = asyncio.gather(*(state.save_channel(f"b{n}", "ada", 100 + n) for n in range(5)))
    await asyncio.gather(first, second)
    assert state.commits.writes == 10
    assert state.commits.rounds == 2
    assert len(_links_on_disk(state.path)) == 10


#: Values SQLite cannot store, as a caller might pass them by mistake.
BAD_CHANNEL_IDS: list[Any] = [
    2**70,  # out of range: beyond SQLite's 64-bit integers
    -(2**70),
    {"id": 1},  # wrong type
    [[[1]]],  # nested
    object(),
]


@pytest.mark.parametrize(
    "bad", BAD_CHANNEL_IDS, ids=["huge", "huge-negative", "dict", "nested", "object"]
)
async def test_a_refused_write_in_a_round_stores_nothing_and_spoils_no_other(
    state: StateStore, bad: Any
) -> None:
    outcomes = await asyncio.gather(
        state.save_channel("before", "ada", 1),
        state.save_channel("bad", "ada", bad),
        state.save_channel("after", "ada", 2),
        return_exceptions=True,
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], StateError)
    assert "write failed" in str(outcomes[1]) and state.path in str(outcomes[1])
    assert state.commits.rounds == 1
    assert _links_on_disk(state.path) == {"before": 1, "after": 2}


async def test_a_write_of_several_statements_is_refused_whole(state: StateStore) -> None:
    """The second deferral cannot be stored: the first is not stored either."""
    with pytest.raises(StateError):
        await state.add_deferrals("ada", ["s1", {"not": "an id"}])  # type: ignore[list-item]
    assert await state.deferrals("ada") == set()
    await state.add_deferrals("ada", ["s1", "s2"])
    assert await state.deferrals("ada") == {"s1", "s2"}


async def test_a_full_file_answers_ok_exactly_the_writes_it_kept(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    state = await StateStore.open(path)
    try:
        for n in range(20):
            await state.save_channel(f"s{n}", "ada", n)
        pages = await state._rows("PRAGMA page_count")
        await state._rows(f"PRAGMA max_page_count = {pages[0][0]}")
        big = "x" * 200_000
        outcomes = await asyncio.gather(
            *(state.save_channel(f"t{n}", "ada", 100 + n) for n in range(5)),
            state.record_sync("ada", ok=False, error=big),
            return_exceptions=True,
        )
    finally:
        await state.close()
    assert isinstance(outcomes[-1], StateError) and "full" in str(outcomes[-1])
    kept = {f"t{n}" for n, outcome in enumerate(outcomes[:5]) if outcome is None}
    assert all(isinstance(o, StateError) for n, o in enumerate(outcomes[:5]) if f"t{n}" not in kept)
    again = await StateStore.open(path)
    try:
        links = {link.slot_id for link in await again.all_links()}
        assert links == {f"s{n}" for n in range(20)} | kept
        assert await again.all_syncs() == {}
    finally:
        await again.close()


async def test_closing_commits_what_was_asked_for_then_refuses(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    state = await StateStore.open(path)
    writes = [asyncio.create_task(state.save_channel(f"s{n}", "ada", n)) for n in range(10)]
    await asyncio.sleep(0)  # queued, not yet committed
    await state.close()
    assert [w.result() for w in writes] == [None] * 10
    assert len(_links_on_disk(str(path))) == 10
    with pytest.raises(StateError, match="closed"):
        await state.save_channel("late", "ada", 99)
    with pytest.raises(StateError, match="closed"):
        await state.all_links()


async def test_a_writer_cancelled_before_its_round_stores_nothing(state: StateStore) -> None:
    cancelled = asyncio.create_task(state.save_channel("gone", "ada", 1))
    await asyncio.sleep(0)  # queued
    cancelled.cancel()
    await state.save_channel("kept", "ada", 2)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert _links_on_disk(state.path) == {"kept": 2}


async def test_intent_and_its_key_are_one_write(state: StateStore) -> None:
    keys = await asyncio.gather(
        *(state.record_intent(f"s{n}", "ada", 3, claim_key=f"k{n}") for n in range(10))
    )
    assert keys == [f"k{n}" for n in range(10)]
    assert state.commits.writes == 10
    # The same attempt again keeps its key (read back in the same round as the upsert).
    assert await state.record_intent("s0", "ada", 3, claim_key="other") == "k0"
