"""Fixtures for the scheduling core: a fake clock, a real embedded calendar, a real state file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
