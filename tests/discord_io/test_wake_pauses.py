"""The start-up heap is left out of later collections, and given back when the bot closes."""

from __future__ import annotations

import gc
import weakref

from bot.discord_io.wake_pauses import release_start_up_heap, settle_start_up_heap


class _Node:
    """A cycle: only the collector (not reference counting) frees it."""

    def __init__(self) -> None:
        self.me = self


def test_a_frozen_cycle_outlives_collections_until_the_heap_is_released() -> None:
    node = _Node()
    alive = weakref.ref(node)
    try:
        frozen = settle_start_up_heap()
        assert frozen == gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert alive() is not None  # frozen: no pass looks at it
    finally:
        release_start_up_heap()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None  # given back, the cycle is collected


def test_start_up_garbage_is_collected_before_freezing() -> None:
    node = _Node()
    alive = weakref.ref(node)
    del node  # garbage already, but only a collection can tell
    try:
        settle_start_up_heap()
        assert alive() is None
    finally:
        release_start_up_heap()
