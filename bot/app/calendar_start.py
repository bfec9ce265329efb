"""The run's calendar, opened so that a CalDAV server out of reach at start-up is waited for.

`CaldavCalendar.open` talks to the server (the home, each agent's collection, a
first listing), so a network fault there (no connection, no answer in time, a
5xx) used to end the run as a bad setting does, with exit 2. It is a fault of
the moment, and is met the way an unreachable calendar server is met at any
other time: logged, and tried again with backoff, at most `CALDAV_POLL_S` apart
(the pace the operator chose for asking that server), until it answers or a stop
comes (the runner cancels the opening; the run exits 0). What a person must fix
(an account the server refuses, a home that is not there, a collection that
cannot be made) still raises at once, for the runner's exit 2.

Only the bot's run waits: a `calendar …` command or `check-config` says what is
wrong and ends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.app.settings import Settings
from bot.app.wiring import open_calendar
from bot.calendar.client import RequestObserver
from bot.core.agents import AgentConfig
from bot.core.calendar import Calendar, CalendarUnavailable
from bot.core.clock import Clock
from bot.core.delays import Jitter, retry_delay

log = logging.getLogger(__name__)

#: The first wait after the server could not be reached; it doubles up to `CALDAV_POLL_S`.
FIRST_RETRY_S = 1.0


async def open_run_calendar(
    settings: Settings,
    *,
    clock: Clock,
    observer: RequestObserver | None,
    agents: Sequence[AgentConfig],
) -> Calendar:
    """`open_calendar` for the bot's run; a CalDAV calendar is tried again while its server
    cannot be reached (see the module). Every other failure raises as before."""
    failures = 0
    while True:
        try:
            return await open_calendar(settings, clock=clock, observer=observer, agents=agents)
        except CalendarUnavailable as exc:
            if not settings.calendar_is_caldav:
                raise
            failures += 1
            limit = settings.caldav_poll_s
            delay = retry_delay(
                failures, base_s=min(FIRST_RETRY_S, limit), max_s=limit, jitter=Jitter.EQUAL
            )
            log.warning(
                "cannot reach the CalDAV calendar at start-up (%s); trying again in %.1f s "
                "(%d attempt(s) so far)",
                exc.detail,
                delay,
                failures,
            )
        await clock.sleep(delay)
