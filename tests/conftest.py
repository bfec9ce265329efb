"""Suite-wide settings. Area fixtures live in each sub-package's own conftest."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import HealthCheck, settings

from testkit.processes import BotProcess
from testkit.spawn import SpawnReceiver, serving_spawn_receiver

# Capped so the whole suite stays well under 5 minutes on a loaded 2-core machine.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _restored_logging() -> Iterator[None]:
    """`python -m bot` and `calendar serve` configure logging for the process they think they
    own (root handlers, quieter library loggers); run in-process by a test, the next test in
    that worker must not inherit it (its caplog would miss records)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {
        name: logger.level
        for name, logger in root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    # pytest adds and removes its own capture handlers around each phase: leave those alone.
    for handler in [h for h in root.handlers if h not in handlers]:
        if not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
    root.setLevel(level)
    for name, logger in list(root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level != levels.get(name, logging.NOTSET):
            logger.setLevel(levels.get(name, logging.NOTSET))


@pytest.fixture
async def receiver() -> AsyncIterator[SpawnReceiver]:
    """A spawn webhook that records every wake (the moderator-process tests)."""
    async with serving_spawn_receiver() as spawn:
        yield spawn


@pytest.fixture
async def processes() -> AsyncIterator[list[BotProcess]]:
    """The moderator processes a test starts, stopped at teardown whatever happened (before
    the servers they use stop)."""
    started: list[BotProcess] = []
    try:
        yield started
    finally:
        for proc in started:
            await proc.stop()
