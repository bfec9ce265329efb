"""Choosing the backend from `CALENDAR_URL`, so nothing else has to know which one it got."""

from __future__ import annotations

from bot.calendar.base import Calendar
from bot.calendar.client import HttpCalendar
from bot.calendar.store import EmbeddedCalendar
from bot.clock import Clock
from bot.config import Settings


async def open_calendar(settings: Settings, clock: Clock | None = None) -> Calendar:
    """The embedded store for `sqlite:///…`, the HTTP client for `http(s)://…`.

    `clock` drives the embedded store's notion of now; a remote calendar keeps its own.
    The caller owns the result and must `close()` it.
    """
    if settings.calendar_is_embedded:
        return await EmbeddedCalendar.open(
            settings.calendar_db_path, timezone=settings.tz, clock=clock
        )
    token = settings.calendar_token.get_secret_value() if settings.calendar_token else None
    return HttpCalendar(settings.calendar_url, timezone=settings.tz, token=token)
