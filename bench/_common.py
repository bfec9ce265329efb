"""Small helpers shared by the benchmarks: a traffic meter for the calendar server, a time zone.

`TrafficMeter` is an aiohttp middleware put outermost in the calendar server's
app, so it sees every request as it arrived and every answer as it leaves,
errors included. Bytes are counted as they go over the wire: the request line,
headers and body in; the status line, final headers and body out (the answer is
prepared inside the meter so its headers are the ones actually sent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RouteCount:
    requests: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


def route_label(request: web.Request) -> str:
    """`POST /calendar/slots/{slot_id}/start`: the route template, with the action spelled out."""
    info = request.match_info
    route = getattr(info, "route", None)
    resource = getattr(route, "resource", None)
    template = getattr(resource, "canonical", None) or request.path
    action = info.get("action")
    if action is not None:
        template = template.replace("{action}", action)
    return f"{request.method} {template}"


def _header_bytes(pairs: tuple[tuple[bytes, bytes], ...]) -> int:
    return sum(len(name) + 2 + len(value) + 2 for name, value in pairs) + 2


class TrafficMeter:
    """Requests, statuses and wire bytes per route, as the server saw them."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], RouteCount] = {}

    def reset(self) -> None:
        self.counts.clear()

    def install(self, app: web.Application) -> None:
        """Outermost, before the app starts: it sees the answer a client gets."""

        @web.middleware
        async def meter(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self._count(request, handler)

        app.middlewares.insert(0, meter)

    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        version = request.version
        line = f"{request.method} {request.path_qs} HTTP/{version.major}.{version.minor}\r\n"
        received = len(line.encode("latin-1")) + _header_bytes(request.raw_headers) + len(body)
        response = await handler(request)
        await response.prepare(request)  # fixes the headers that go out
        status_line = (
            f"HTTP/{version.major}.{version.minor} {response.status} {response.reason}\r\n"
        )
        head = len(status_line.encode("latin-1")) + sum(
            len(k.encode("latin-1")) + 2 + len(v.encode("latin-1")) + 2
            for k, v in response.headers.items()
        )
        payload = response.body if isinstance(response, web.Response) else None
        sent = head + 2 + (len(payload) if isinstance(payload, bytes) else 0)
        row = self.counts.setdefault((route_label(request), response.status), RouteCount())
        row.requests += 1
        row.bytes_in += received
        row.bytes_out += sent
        return response

    def requests(self, route: str | None = None, status: int | None = None) -> int:
        return sum(
            c.requests
            for (r, s), c in self.counts.items()
            if (route is None or r == route) and (status is None or s == status)
        )

    def bytes_in(self) -> int:
        return sum(c.bytes_in for c in self.counts.values())

    def bytes_out(self) -> int:
        return sum(c.bytes_out for c in self.counts.values())


def midday_zone(now: datetime) -> ZoneInfo:
    """A fixed-offset zone where it is about noon at `now`, so a run never crosses midnight
    (its `key` is the name for the TIMEZONE setting).

    `Etc/GMT-3` is UTC+3 (POSIX signs are inverted); offsets span -12..+14.
    """
    offset = 12 - now.astimezone(UTC).hour
    if offset == 0:
        return ZoneInfo("Etc/GMT")
    return ZoneInfo(f"Etc/GMT{-offset:+d}")
