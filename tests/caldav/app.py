"""A person's calendar app, as the tests play it: raw HTTP on the CalDAV server, no client of ours.

What an app does to an agent's calendar is exactly what reaches the server:
PUT of an iCalendar body, DELETE, GET. Keeping the tests' writes independent
of `DavClient` means the moderator is tested against the server, not itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp

from testkit.radicale import DavHome


def ics_time(moment: datetime) -> str:
    """`DTSTART` text for an aware instant, in UTC."""
    return moment.strftime("%Y%m%dT%H%M%SZ")


def event(uid: str, start: str, *lines: str, summary: str = "work") -> str:
    """A VCALENDAR of one VEVENT; `start` is the DTSTART line's value part (after `DTSTART`)."""
    body = "\r\n".join(
        [f"UID:{uid}", "DTSTAMP:20261201T000000Z", f"DTSTART{start}", f"SUMMARY:{summary}", *lines]
    )
    return (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test app//EN\r\n"
        f"BEGIN:VEVENT\r\n{body}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


class CalendarApp:
    """Raw requests on one home's collections, with the home's account."""

    def __init__(self, home: DavHome) -> None:
        self.home = home
        self._headers = {"Authorization": aiohttp.encode_basic_auth(home.username, home.password)}

    def href(self, agent_id: str, name: str) -> str:
        return f"{self.home.url}{agent_id}/{name}.ics"

    async def _request(self, method: str, url: str, **kwargs: Any) -> tuple[int, str, str]:
        headers = {**self._headers, **kwargs.pop("headers", {})}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, url, headers=headers, **kwargs) as answer,
        ):
            return answer.status, answer.headers.get("ETag", ""), await answer.text()

    async def put(self, agent_id: str, name: str, text: str) -> str:
        status, etag, body = await self.try_put(self.href(agent_id, name), text)
        assert status in (201, 204), (status, body[:300])
        return etag

    async def try_put(self, url: str, text: str) -> tuple[int, str, str]:
        """PUT `text` at `url` (an event's, or a collection's: a whole calendar at once);
        (status, ETag, body) whatever the server answered."""
        return await self._request(
            "PUT",
            url,
            data=text.encode(),
            headers={"Content-Type": "text/calendar; charset=utf-8"},
        )

    async def get(self, agent_id: str, name: str) -> str | None:
        status, _, body = await self._request("GET", self.href(agent_id, name))
        return None if status == 404 else body

    async def delete(self, agent_id: str, name: str) -> None:
        status, _, body = await self._request("DELETE", self.href(agent_id, name))
        assert status in (200, 204), (status, body[:300])

    async def make_calendar(self, agent_id: str) -> None:
        """A new calendar named for the agent, as a person makes one in the app."""
        status, _, body = await self._request("MKCALENDAR", f"{self.home.url}{agent_id}/")
        assert status == 201, (status, body[:300])
