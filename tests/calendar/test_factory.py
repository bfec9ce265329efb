"""CALENDAR_URL picks the backend; the rest of the bot only ever sees a `Calendar`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.app.settings import Settings
from bot.app.wiring import open_calendar
from bot.calendar.client import HttpCalendar
from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import Calendar, CalendarAuthError
from bot.core.clock import FakeClock
from bot.core.models import HeartbeatStatus
from tests.calendar.conftest import TOKEN, Served, slot_body


@pytest.fixture(autouse=True)
def no_calendar_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CALENDAR_URL", "CALENDAR_TOKEN", "TIMEZONE"):
        monkeypatch.delenv(name, raising=False)


def settings(**values: object) -> Settings:
    # No .env and no environment: only what the test says.
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def test_sqlite_url_opens_the_embedded_calendar(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "cal.db"
    cal = await open_calendar(
        settings(calendar_url=f"sqlite:///{path}", timezone="Asia/Shanghai"), clock=clock
    )
    try:
        assert isinstance(cal, EmbeddedCalendar) and isinstance(cal, Calendar)
        assert cal.timezone.key == "Asia/Shanghai"
        slot = await cal.create_slot(slot_body(), agent_id="alice")
        assert slot.updated_at == clock.now()  # the given clock is the store's clock
    finally:
        await cal.close()
    assert path.exists()


async def test_http_url_opens_the_client_with_the_token(
    serve: Callable[..., Awaitable[Served]],
) -> None:
    served = await serve(token=TOKEN)
    cal = await open_calendar(
        settings(calendar_url=served.base_url, calendar_token=TOKEN, timezone="Asia/Shanghai")
    )
    try:
        assert isinstance(cal, HttpCalendar) and isinstance(cal, Calendar)
        assert cal.timezone.key == "Asia/Shanghai"
        assert await cal.heartbeat("alice", HeartbeatStatus.IDLE) == []
    finally:
        await cal.close()
    unauthenticated = await open_calendar(settings(calendar_url=served.base_url))
    try:
        with pytest.raises(CalendarAuthError):
            await unauthenticated.agent_status("alice")
    finally:
        await unauthenticated.close()
