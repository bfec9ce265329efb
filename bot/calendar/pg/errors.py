"""Saying why a PostgreSQL calendar cannot be used, without ever saying its password.

libpq's own messages name the host, port, user and database but never the
password (`without_secret` blanks it anyway); `describe` turns a driver error into
one line a person can act on.
"""

from __future__ import annotations

import psycopg

from bot.calendar.pg.urls import shown_url, without_secret
from bot.core.sqlite_file import DatabaseFileRefused


class CalendarDatabaseRefused(DatabaseFileRefused):
    """The calendar's database cannot be used as configured (exit 2, nothing changed).

    A `DatabaseFileRefused`, so every place that opens a calendar already says it
    the same way: `CALENDAR_URL: <url without password> <what is wrong>`.
    """

    def __init__(self, url: str, problem: str) -> None:
        super().__init__("CALENDAR_URL", shown_url(url), problem)


#: SQLSTATE classes and codes -> what the person should look at.
_BY_STATE = {
    "28P01": "refused the password: check the password in CALENDAR_URL",
    "28000": "refused the role: check the user name in CALENDAR_URL and pg_hba.conf",
    "3D000": "has no such database: create it, or fix the database name in CALENDAR_URL",
    "42501": "denies the role a right the calendar needs (create tables, read and write "
    "them): grant it, or use the role that owns the calendar's tables",
    "57P03": "is starting up or shutting down: try again in a moment",
}


def describe(exc: BaseException, url: str) -> str:
    """One line saying what is wrong, for `CalendarDatabaseRefused` and `check-config`."""
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and state in _BY_STATE:
        return _BY_STATE[state]
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    detail = without_secret(detail, url)
    lowered = detail.lower()
    if "password authentication failed" in lowered:
        return _BY_STATE["28P01"]
    if "does not exist" in lowered and "database" in lowered:
        return _BY_STATE["3D000"]
    if isinstance(exc, psycopg.OperationalError):
        return f"cannot be reached: {detail}"
    return f"cannot be used: {detail}"
