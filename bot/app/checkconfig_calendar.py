"""`check-config`'s look at a calendar database (DESIGN §11) or CalDAV home (§10): reachable,
ours, writable.

A SQLite calendar's path is judged by `file_problems` without opening it; a
PostgreSQL one can only be judged by connecting, which this does (and nothing
more: the schema is created at the first start, not here). Every line names
`CALENDAR_URL` and never its password.
"""

from __future__ import annotations

import asyncio

from bot.app.settings import Settings
from bot.calendar.pg.urls import shown_url

#: Connecting to the database may take this long before it counts as unreachable (seconds).
CONNECT_TIMEOUT_S = 10


def calendar_problems(settings: Settings) -> list[str]:
    """What stops the calendar store `CALENDAR_URL` names from being used, as lines to print."""
    if settings.calendar_is_caldav:
        problem = asyncio.run(_caldav_problem(settings))
        return (
            []
            if problem is None
            else [f"CALENDAR_URL: {shown_url(settings.calendar_url)} {problem}"]
        )
    if not settings.calendar_is_postgres:
        return []
    from bot.calendar.pg.checks import database_problem  # psycopg only where it is used

    url = settings.calendar_url
    problem = asyncio.run(database_problem(url, connect_timeout=CONNECT_TIMEOUT_S))
    return [] if problem is None else [f"CALENDAR_URL: {shown_url(url)} {problem}"]


async def _caldav_problem(settings: Settings) -> str | None:
    """Whether the CalDAV home answers: a refused account, a missing home and an unreachable
    server are told apart (DESIGN §10), each without the password."""
    from bot.calendar.caldav.dav import DavClient
    from bot.core.calendar import CalendarError

    account = settings.caldav_account
    client = DavClient(
        account.home_url,
        username=account.username,
        password=account.password,
        timeout_s=CONNECT_TIMEOUT_S,
    )
    try:
        await client.check_home()
    except CalendarError as exc:
        return exc.detail
    finally:
        await client.close()
    return None
