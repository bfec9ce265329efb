"""Suite-wide settings. Area fixtures live in each sub-package's own conftest."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from bot.app.logs import NOISY_LOGGERS

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
def _logging_levels_put_back() -> Iterator[None]:
    """Tests that run `main()` or a CLI in-process set the process's logging up (the root
    level, `aiohttp.access` at WARNING); put back after each test, so that a later test in
    the same worker still sees the records it asks caplog for."""
    levels = {name: logging.getLogger(name).level for name in ("", *NOISY_LOGGERS)}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
