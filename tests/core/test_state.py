"""The persisted state: ledger round trips, survival across a reopen, corrupt files."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.clock import FakeClock
from bot.core.sqlite_file import DatabaseFileRefused
from bot.core.sqlite_path import set_aside
from bot.core.state import StateStore
from bot.core.waker import ChannelLedger, WakeResult
from testkit.files import corrupt_page, snapshot
from testkit.sqlite_files import user_version, write_file


@pytest.fixture
async def state(tmp_path: Path, clock: FakeClock) -> AsyncIterator[StateStore]:
    store = await StateStore.open(tmp_path / "s.db", clock=clock)
    yield store
    await store.close()


async def test_channel_ledger_round_trip(tmp_path: Path, clock: FakeClock) -> None:
    state = await StateStore.open(tmp_path / "state.db", clock=clock)
    ledger: ChannelLedger = state  # the Discord waker's view must type-check
    try:
        assert await ledger.channel_link("s1") is None
        await ledger.save_channel("s1", "ada", 111)
        await ledger.save_message("s1", 999)
        link = await ledger.channel_link("s1")
        assert link is not None
        assert (link.agent_id, link.channel_id, link.message_id, link.ended_at) == (
            "ada",
            111,
            999,
            None,
        )
        by_channel = await ledger.link_by_channel(111)
        assert by_channel is not None and by_channel.slot_id == "s1"
        assert await ledger.link_by_channel(222) is None

        # saving the same channel again keeps the message id (idempotent re-save)
        await ledger.save_channel("s1", "ada", 111)
        again = await ledger.channel_link("s1")
        assert again is not None and again.message_id == 999

        await ledger.save_channel("s2", "bob", 222)
        t1 = clock.now()
        await ledger.mark_ended("s1", t1)
        await ledger.mark_ended("s1", t1 + timedelta(hours=1))  # first end wins
        ended = await ledger.ended_links(t1 + timedelta(seconds=1))
        assert [e.slot_id for e in ended] == ["s1"]
        assert ended[0].ended_at == t1
        assert await ledger.ended_links(t1) == []
        assert [x.slot_id for x in await ledger.all_links()] == ["s1", "s2"]
        await ledger.forget_channel("s1")
        assert await ledger.channel_link("s1") is None
        assert [x.slot_id for x in await ledger.all_links()] == ["s2"]
    finally:
        await state.close()


async def test_everything_survives_a_reopen(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state.db"
    state = await StateStore.open(path, clock=clock)
    await state.save_channel("s1", "ada", 5)
    await state.record_intent("s1", "ada", expected_version=3)
    await state.record_claim("s1", claimed_version=4)
    await state.record_intent("s2", "ada", expected_version=1)
    await state.record_result("s1", WakeResult.success("discord", "5"))
    await state.add_deferrals("bob", ["x", "y"])
    await state.record_sync("ada", ok=True)
    await clock.advance(60)
    await state.record_sync("ada", ok=False, error="calendar down")
    await state.close()

    state = await StateStore.open(path, clock=clock)
    try:
        assert state.rebuilt_from is None
        s1 = await state.wake_entry("s1")
        assert s1 is not None
        assert (s1.expected_version, s1.claimed_version) == (3, 4)
        assert s1.result == WakeResult.success("discord", "5")
        assert not s1.unfinished
        unfinished = await state.unfinished_wakes()
        assert [w.slot_id for w in unfinished] == ["s2"]
        assert not unfinished[0].claimed
        assert await state.deferrals("bob") == {"x", "y"}
        assert await state.deferrals("ada") == set()
        sync = await state.last_sync("ada")
        assert sync is not None
        assert (sync.ok, sync.error, sync.consecutive_failures) == (False, "calendar down", 1)
        assert sync.last_ok_at == clock.now() - timedelta(seconds=60)
        assert (await state.channel_link("s1")) is not None
    finally:
        await state.close()


async def test_intent_again_after_a_failed_wake_counts_attempts(state: StateStore) -> None:
    await state.record_intent("s1", "ada", expected_version=1)
    await state.record_claim("s1", claimed_version=2)
    await state.record_result("s1", WakeResult.failure("chain", "no waker"))
    await state.record_intent("s1", "ada", expected_version=3)
    entry = await state.wake_entry("s1")
    assert entry is not None
    assert (entry.attempts, entry.expected_version, entry.claimed_version, entry.result) == (
        2,
        3,
        None,
        None,
    )
    assert entry.unfinished
    await state.drop_intent("s1")
    assert await state.wake_entry("s1") is None


async def test_sync_failures_count_up_and_reset(state: StateStore, clock: FakeClock) -> None:
    first = await state.record_sync("ada", ok=False, error="boom")
    assert (first.consecutive_failures, first.last_ok_at) == (1, None)
    second = await state.record_sync("ada", ok=False, error="boom again")
    assert (second.consecutive_failures, second.error) == (2, "boom again")
    ok = await state.record_sync("ada", ok=True)
    assert (ok.consecutive_failures, ok.error, ok.last_ok_at) == (0, None, clock.now())
    await state.clear_deferrals("ada")
    assert set((await state.all_syncs()).keys()) == {"ada"}


async def _filled_state(path: Path, clock: FakeClock) -> None:
    state = await StateStore.open(path, clock=clock)
    try:
        await state.save_channel("s1", "ada", 111)
        await state.add_deferral("ada", "s2")
    finally:
        await state.close()


async def test_a_corrupt_state_file_of_ours_is_set_aside_and_rebuilt(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    await _filled_state(path, clock)
    corrupt_page(path, "channel_links")
    content = path.read_bytes()
    with caplog.at_level(logging.ERROR, logger="bot.core.state"):
        state = await StateStore.open(path, clock=clock)
    try:
        assert state.rebuilt_from is not None
        assert state.rebuilt_from.name.startswith("state.db.corrupt-")
        assert state.rebuilt_from.read_bytes() == content  # nothing lost: kept for a post-mortem
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert errors and str(path) in errors[0].getMessage()
        # the new file works
        await state.add_deferral("ada", "s1")
        assert await state.deferrals("ada") == {"s1"}
    finally:
        await state.close()


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database at all, just text" * 200,
        b"SQLite format 3\x00" + b"\xff" * 4096,
    ],
    ids=["not-a-database", "sqlite-header-of-another-program"],
)
async def test_a_file_that_is_not_ours_is_refused_and_left_alone(
    tmp_path: Path, clock: FakeClock, content: bytes
) -> None:
    """DESIGN §4: only our own database is ever set aside; someone's file is not renamed."""
    path = tmp_path / "state.db"
    path.write_bytes(content)
    before = snapshot(tmp_path)
    with pytest.raises(DatabaseFileRefused) as err:
        await StateStore.open(path, clock=clock)
    assert str(err.value).startswith(f"STATE_PATH: {path} ")
    assert err.value.exit_code == 2
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("script", "said"),
    [
        (
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL);"
            "INSERT INTO invoices (amount) VALUES (12.5);",
            "invoices",
        ),
        ("PRAGMA user_version = 99;", "newer version"),
    ],
    ids=["another-programs-tables", "newer-schema"],
)
async def test_an_sqlite_file_we_cannot_own_is_refused_not_set_aside(
    tmp_path: Path, clock: FakeClock, script: str, said: str
) -> None:
    path = tmp_path / "state.db"
    with closing(sqlite3.connect(path)) as raw:
        raw.executescript(script)
    before = snapshot(tmp_path)
    with pytest.raises(DatabaseFileRefused, match=said):
        await StateStore.open(path, clock=clock)
    assert snapshot(tmp_path) == before


async def test_a_missing_state_file_is_created_but_never_its_directory(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    with caplog.at_level(logging.WARNING, logger="bot.core"):
        state = await StateStore.open(path, clock=clock)
    try:
        assert path.exists()
        assert state.rebuilt_from is None
        assert any(str(path) in r.getMessage() for r in caplog.records)
    finally:
        await state.close()
    deep = tmp_path / "deep" / "dir" / "state.db"
    with pytest.raises(DatabaseFileRefused, match="does not exist"):
        await StateStore.open(deep, clock=clock)
    assert not (tmp_path / "deep").exists()


async def test_an_empty_state_file_is_started_afresh_and_said_so(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    path.touch()
    with caplog.at_level(logging.INFO, logger="bot.core"):
        state = await StateStore.open(path, clock=clock)
    try:
        await state.add_deferral("ada", "s1")
        assert await state.deferrals("ada") == {"s1"}
        assert any("0 bytes" in r.getMessage() for r in caplog.records)
    finally:
        await state.close()


async def test_naive_timestamps_are_refused(state: StateStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await state.mark_ended("s1", datetime(2026, 1, 1))
    await state.mark_ended("s1", datetime(2026, 1, 1, tzinfo=UTC))


async def test_each_claim_attempt_has_its_own_key_kept_until_it_is_settled(
    state: StateStore,
) -> None:
    first = await state.record_intent("s1", "ada", expected_version=1)
    assert len(first) >= 16
    entry = await state.wake_entry("s1")
    assert entry is not None and entry.claim_key == first
    # the same attempt (same slot, same version, unsettled) keeps its key: a late
    # landing of the first `start` is still recognised as ours
    assert await state.record_intent("s1", "ada", expected_version=1) == first
    # another attempt (the slot moved on) gets a new one
    second = await state.record_intent("s1", "ada", expected_version=3)
    assert second != first
    await state.record_claim("s1", claimed_version=4)
    await state.record_result("s1", WakeResult.failure("chain", "no waker"))
    third = await state.record_intent("s1", "ada", expected_version=5)
    assert third not in (first, second)
    other = await state.record_intent("s2", "ada", expected_version=1)
    assert other not in (first, second, third)
    given = await state.record_intent("s3", "ada", expected_version=1, claim_key="mine-1")
    assert given == "mine-1"


async def test_releasing_takes_back_the_claim_but_keeps_the_intent(state: StateStore) -> None:
    key = await state.record_intent("s1", "ada", expected_version=1)
    await state.record_claim("s1", claimed_version=2)
    await state.record_releasing("s1")
    entry = await state.wake_entry("s1")
    assert entry is not None
    assert (entry.unfinished, entry.claimed, entry.claim_key) == (True, False, key)


async def test_a_version_1_state_file_is_upgraded_and_its_intents_get_claim_keys(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = write_file(
        tmp_path / "old.db",
        """
        CREATE TABLE wakes (
            slot_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL,
            expected_version INTEGER NOT NULL, intent_at TEXT NOT NULL,
            claimed_version INTEGER, claimed_at TEXT, result_at TEXT, ok INTEGER,
            via TEXT, reference TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 1,
            activity_at TEXT, nudged_at TEXT
        );
        INSERT INTO wakes (slot_id, agent_id, expected_version, intent_at)
            VALUES ('s1', 'ada', 1, '2026-03-02T09:00:00+00:00'),
                   ('s2', 'ada', 4, '2026-03-02T09:01:00+00:00');
        PRAGMA user_version = 1;
        """,
    )
    state = await StateStore.open(path, clock=clock)
    try:
        assert state.rebuilt_from is None  # upgraded in place, not set aside
        entries = await state.unfinished_wakes()
        assert [(e.slot_id, e.expected_version) for e in entries] == [("s1", 1), ("s2", 4)]
        keys = {e.claim_key for e in entries}
        assert len(keys) == 2 and all(len(k) == 32 for k in keys)
    finally:
        await state.close()
    assert user_version(path) == 2


def test_setting_aside_moves_the_companions_and_never_a_link_or_a_directory(
    tmp_path: Path,
) -> None:
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    path = tmp_path / "state.db"
    for name, content in (
        ("state.db", b"main"),
        ("state.db-wal", b"wal"),
        ("state.db-shm", b"shm"),
    ):
        (tmp_path / name).write_bytes(content)
    target = set_aside(path, now)
    assert target.name == "state.db.corrupt-20260302T090000"
    assert [target.with_name(target.name + s).read_bytes() for s in ("", "-wal", "-shm")] == [
        b"main",
        b"wal",
        b"shm",
    ]
    assert not any((tmp_path / n).exists() for n in ("state.db", "state.db-wal", "state.db-shm"))
    (tmp_path / "dir.db").mkdir()
    (tmp_path / "link.db").symlink_to(target)
    before = snapshot(tmp_path)
    for refused in ("dir.db", "link.db"):
        with pytest.raises(OSError):
            set_aside(tmp_path / refused, now)
    assert snapshot(tmp_path) == before
