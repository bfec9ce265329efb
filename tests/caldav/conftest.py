"""CalDAV fixtures: a real Radicale server per test worker, a fresh user (an empty home) per test.

Radicale is a dev dependency, so it is never skipped: a server that will not
start fails the test with Radicale's own log in the message. Tests that stop
and restart the server take `own_radicale`, a server of their own, so the
shared one never goes away under another test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.caldav.calendar import DEFAULT_TIMEOUT_S, CaldavCalendar
from bot.calendar.caldav.dav import DavClient
from bot.core.clock import Clock
from testkit.radicale import DavHome, RadicaleFailed, RadicaleServer


def _started() -> RadicaleServer:
    server = RadicaleServer()
    try:
        server.start()
    except RadicaleFailed as exc:
        server.remove()
        pytest.fail(f"the test CalDAV server (Radicale) did not start: {exc}", pytrace=False)
    return server


@pytest.fixture(scope="session")
def radicale() -> Iterator[RadicaleServer]:
    server = _started()
    yield server
    server.remove()


@pytest.fixture
def own_radicale() -> Iterator[RadicaleServer]:
    """A server for this test alone (to stop and start again)."""
    server = _started()
    yield server
    server.remove()


@pytest.fixture
def dav_home(radicale: RadicaleServer) -> DavHome:
    """A new user on the shared server: an empty calendar home of this test's own."""
    return radicale.add_user()


def client_for(
    home: DavHome, *, timeout_s: float = 10.0, max_answer_bytes: int = 64 << 20
) -> DavClient:
    return DavClient(
        home.url,
        username=home.username,
        password=home.password,
        timeout_s=timeout_s,
        max_answer_bytes=max_answer_bytes,
    )


async def open_calendar(
    home: DavHome,
    clock: Clock,
    copy_path: Path | None = None,
    *,
    poll_s: float = 3600,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> CaldavCalendar:
    """Ada's calendar on `home` (Europe/Berlin): with an hour between polls, a test polls
    it itself."""
    return await CaldavCalendar.open(
        home.url,
        timezone=ZoneInfo("Europe/Berlin"),
        agents=["ada"],
        username=home.username,
        password=home.password,
        copy_path=copy_path,
        clock=clock,
        poll_s=poll_s,
        timeout_s=timeout_s,
    )


def event(uid: str, summary: str = "write the report", *, description: str = "") -> str:
    """A one-event VCALENDAR (CRLF lines, as RFC 5545 wants)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//calendar-moderator tests//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        "DTSTART:20260105T090000Z",
        "DURATION:PT30M",
        f"SUMMARY:{summary}",
        *([f"DESCRIPTION:{description}"] if description else []),
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines)


@pytest.fixture
async def dav(dav_home: DavHome) -> AsyncIterator[DavClient]:
    client = client_for(dav_home)
    yield client
    await client.close()
