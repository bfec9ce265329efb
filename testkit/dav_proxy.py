"""A loopback proxy in front of the test Radicale that behaves like other CalDAV servers.

Radicale does everything the CalDAV client hopes for; real servers differ. The
proxy forwards every request to Radicale and, as the test switches them on,
answers sync-collection with an error (a server without RFC 6578), writes hrefs
as absolute URLs, adds a response naming an href outside the collection, drops
the ETag header from PUT answers, or redirects to another server. It runs in
the test's event loop (`start()`/`stop()`), on 127.0.0.1 and a free port.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

_CALDAV = "urn:ietf:params:xml:ns:caldav"
_HOP_HEADERS = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "content-encoding",
    "accept-encoding",
}


@dataclass
class DavProxy:
    upstream: str  # http://127.0.0.1:PORT of the Radicale behind
    #: answer sync-collection REPORTs with this status instead of forwarding them
    refuse_sync: int | None = None
    #: rewrite "<href>/…" in 207 answers to "<href>http://127.0.0.1:OUR-PORT/…"
    absolute_hrefs: bool = False
    #: add a response with this href (and an ETag, and calendar data) to every 207 answer
    foreign_href: str | None = None
    #: leave the ETag header out of PUT answers
    drop_put_etag: bool = False
    #: answer PROPFIND with a 301 to this URL
    redirect_to: str | None = None
    seen: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def home_url(self, user: str) -> str:
        return f"{self.base_url}/{user}/"

    async def start(self) -> None:
        app = web.Application(client_max_size=128 << 20)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(f"{request.method} {request.path}")
        if self.redirect_to is not None and request.method == "PROPFIND":
            return web.Response(status=301, headers={"Location": self.redirect_to})
        if (
            self.refuse_sync is not None
            and request.method == "REPORT"
            and b"sync-collection" in body
        ):
            return web.Response(status=self.refuse_sync, text="no sync-collection here")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        assert self._session is not None
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            data=body,
            headers=headers,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            answer_headers = {
                k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS
            }
            if self.drop_put_etag and request.method == "PUT":
                answer_headers.pop("ETag", None)
            if upstream.status == 207:
                payload = self._spoil(payload, request.path)
            return web.Response(status=upstream.status, body=payload, headers=answer_headers)

    def _spoil(self, payload: bytes, path: str) -> bytes:
        if self.absolute_hrefs:
            payload = payload.replace(b"<href>/", f"<href>{self.base_url}/".encode())
        if self.foreign_href is not None:
            extra = (
                f"<response><href>{self.foreign_href}</href><propstat><prop>"
                '<getetag>"foreign"</getetag>'
                f'<calendar-data xmlns="{_CALDAV}">BEGIN:VCALENDAR\nEND:VCALENDAR\n</calendar-data>'
                "</prop><status>HTTP/1.1 200 OK</status></propstat></response>"
            ).encode()
            payload = payload.replace(b"</multistatus>", extra + b"</multistatus>")
        return payload
