"""ChannelJanitor on a FakeClock: rounds happen on time, a failing round does not stop it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from bot.core.clock import FakeClock
from bot.discord_io.janitor import ChannelJanitor, default_interval_s


class RecordingCleaner:
    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.calls: list[tuple[datetime, frozenset[str]]] = []
        self.fail_on = fail_on or set()

    async def cleanup(self, now: datetime, *, final_slot_ids: Collection[str] = ()) -> int:
        self.calls.append((now, frozenset(final_slot_ids)))
        if len(self.calls) in self.fail_on:
            raise RuntimeError("discord down")
        return 1


async def test_runs_at_start_with_finals_then_every_interval(clock: FakeClock) -> None:
    cleaner = RecordingCleaner(fail_on={2})

    async def finals() -> Collection[str]:
        return {"s-old"}

    janitor = ChannelJanitor(cleaner, clock, interval_s=600, final_slot_ids=finals)
    start = clock.now()
    janitor.start()
    try:
        await clock.settle()
        assert cleaner.calls == [(start, frozenset({"s-old"}))]
        await clock.advance(600)
        assert janitor.last_error == "RuntimeError: discord down"
        await clock.advance(600)
        assert janitor.running
        assert janitor.last_error is None and janitor.last_deleted == 1
        assert [c[0] for c in cleaner.calls] == [
            start,
            start + (clock.now() - start) / 2,
            clock.now(),
        ]
        assert all(c[1] == frozenset() for c in cleaner.calls[1:])
    finally:
        await janitor.stop()
    assert not janitor.running


def test_default_interval_is_bounded() -> None:
    assert default_interval_s(86400) == 3600
    assert default_interval_s(0) == 60
    assert default_interval_s(1200) == 300
