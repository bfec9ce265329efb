"""The HTTP calendar client: `http` (the `Calendar` calls), `transport` (session, timeouts,
retries), `answers` (refusals and bodies read into the models)."""

from bot.calendar.client.http import HttpCalendar
from bot.calendar.client.transport import RequestObserver, parse_retry_after

__all__ = ["HttpCalendar", "RequestObserver", "parse_retry_after"]
