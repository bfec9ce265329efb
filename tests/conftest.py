"""Suite-wide settings. Area fixtures live in each sub-package's own conftest."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import pytest
from hypothesis import HealthCheck, settings

from testkit.processes import BotProcess, bot_env
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


class StartHeadless(Protocol):
    """The `start_headless` fixture's type, for the tests that ask for it."""

    async def __call__(
        self, agents: Sequence[str], calendar_urls: Sequence[str], **settings: str
    ) -> list[BotProcess]: ...


@pytest.fixture
def start_headless(
    tmp_path: Path, receiver: SpawnReceiver, processes: list[BotProcess]
) -> StartHeadless:
    """Starts headless moderators (`python -m bot`), one per calendar URL, each with a folder
    of its own (`tmp_path/moderator<i>`: state, agents, copy) and checking every second,
    all waking through `receiver`; returns once every one is running. `settings` go to
    each moderator's environment. Called again, it starts them in the same folders: a
    restart, with the state and copies the ones before left."""

    async def start(
        agents: Sequence[str], calendar_urls: Sequence[str], **settings: str
    ) -> list[BotProcess]:
        started = []
        for index, url in enumerate(calendar_urls):
            own = tmp_path / f"moderator{index}"
            own.mkdir(exist_ok=True)
            env = bot_env(
                None,
                own,
                agents=agents,
                CALENDAR_URL=url,
                CHECK_INTERVAL_S="1",
                SPAWN_URL=receiver.url,
                **settings,
            )
            proc = await BotProcess.start(env, own, name="moderator")
            processes.append(proc)
            started.append(proc)
        for proc in started:
            await proc.wait_log("running headless")
        return started

    return start
