"""Keeping the garbage collector's full passes out of a burst of wakes.

At start-up the moderator builds almost everything it keeps: the gateway's
cache of the guild (a member per agent), every agent's scheduler, cache and
timer. CPython's oldest-generation collection walks all of it each time it
runs, and in a burst of 100 wakes (bench/scale.py, 1,000 agents) such a pass
came once or twice and held the event loop for 60-130 ms each: every wake due
then waited for it. Moving what start-up built into the permanent generation
(`gc.freeze`) leaves the later passes only what was made since.

What is frozen is never collected as a cycle; `gc.collect()` first frees the
start-up garbage, and what dies later by its reference count is freed as usual.
A closed bot gives its heap back to the collector (`release_start_up_heap`):
a process that goes on after it (the tests, the demo) must not keep its cycles.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def settle_start_up_heap() -> int:
    """Collect once, then freeze what is left; the number of objects frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("start-up heap settled: %d objects left out of later collections", frozen)
    return frozen


def release_start_up_heap() -> None:
    """Let the collector see the frozen objects again (the bot closed)."""
    gc.unfreeze()
