"""An async WebDAV/CalDAV client for one calendar home: what the CalDAV calendar stands on.

It knows collections, calendar objects and their ETags, and nothing of slots.
`sync` finds what changed in a collection with RFC 6578 sync-collection and
fetches the changed objects with calendar-multiget, in batches; where the
server refuses the token (expired) it starts over with a fresh one, and where
it has no sync at all it lists the collection whole (calendar-query), so the
caller always gets either changes or a full listing to diff.

Limits: a calendar object over `MAX_OBJECT_BYTES` is skipped with a log line
(the rest of the listing goes on), an answer over `max_answer_bytes` is
refused, hrefs outside the collection are ignored. `requests` counts the HTTP
requests made (benchmarks read it).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from bot.calendar.caldav import dav_xml as x
from bot.calendar.caldav.dav_http import (
    Answer,
    CollectionGone,
    DavAuthFailed,
    DavError,
    DavHomeMissing,
    DavHttp,
    DavUnreachable,
    PreconditionFailed,
)
from bot.calendar.caldav.dav_sync import (
    MAX_OBJECT_BYTES,
    Lister,
    Resource,
    SyncAnswer,
    read_multistatus,
)

__all__ = [
    "Collection",
    "CollectionGone",
    "DavAuthFailed",
    "DavClient",
    "DavError",
    "DavHomeMissing",
    "DavUnreachable",
    "PreconditionFailed",
    "Resource",
    "SyncAnswer",
]

#: The default bound of any one answer read.
MAX_ANSWER_BYTES = 64 << 20
_CALENDAR_TYPE = "text/calendar; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Collection:
    href: str  # absolute path on the server, ending in "/"
    segment: str  # last path segment without slashes (unquoted)
    display_name: str | None


class DavClient:
    """One calendar home (`http(s)://host:port/path/`) and the collections under it."""

    def __init__(
        self,
        home_url: str,
        *,
        username: str | None,
        password: str | None,
        timeout_s: float = 10.0,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self._http = DavHttp(
            home_url,
            username=username,
            password=password,
            timeout_s=timeout_s,
            max_bytes=max_answer_bytes,
        )
        self._lister = Lister(self._http)

    @property
    def requests(self) -> int:
        """HTTP requests made so far (every attempt and redirect hop counts); settable,
        so a benchmark may start it again from 0."""
        return self._http.requests

    @requests.setter
    def requests(self, value: int) -> None:
        self._http.requests = value

    @property
    def home(self) -> str:
        """The home's path on the server, ending in "/"."""
        return self._http.home

    async def close(self) -> None:
        await self._http.close()

    async def _propfind(self, path: str, depth: str, *props: str) -> Answer:
        return await self._http.request("PROPFIND", path, body=x.propfind(*props), depth=depth)

    async def check_home(self) -> None:
        """The home is there, a collection, and ours: else DavAuthFailed/DavHomeMissing."""
        answer = await self._propfind(self.home, "0", x.dav("resourcetype"))
        self._home_status(answer)
        status = read_multistatus(answer, f"PROPFIND {self.home}")
        mine = [r for r in status.responses if self._http.path_of(r.href) == self.home]
        if not mine or not mine[0].has_type(x.dav("collection")):
            raise DavHomeMissing(
                f"CalDAV: {self.home} on {self._http.where} is not a collection;"
                " CALENDAR_URL must name a calendar home (a folder)"
            )

    def _home_status(self, answer: Answer) -> None:
        if answer.status == 403:
            raise DavAuthFailed(
                "CalDAV: the server refused CALENDAR_USERNAME/CALENDAR_PASSWORD (403)"
            )
        if answer.status == 404:
            raise DavHomeMissing(
                f"CalDAV: no calendar home at {self.home} on {self._http.where} (404);"
                " check the path of CALENDAR_URL"
            )

    async def collections(self) -> list[Collection]:
        """The calendar collections directly under the home."""
        props = (x.dav("resourcetype"), x.dav("displayname"))
        answer = await self._propfind(self.home, "1", *props)
        self._home_status(answer)
        found: list[Collection] = []
        for response in read_multistatus(answer, f"PROPFIND {self.home}").responses:
            path = self._http.path_of(response.href)
            if path is None or not response.has_type(x.caldav("calendar")):
                continue
            path = path.rstrip("/") + "/"
            segment = path[len(self.home) : -1]
            if not path.startswith(self.home) or not segment or "/" in segment:
                continue
            name = response.text(x.dav("displayname")) or None
            found.append(Collection(path, unquote(segment), name))
        return found

    async def make_collection(self, segment: str, display_name: str) -> Collection:
        """MKCALENDAR `segment` under the home; the existing one if it is already there."""
        if not segment or "/" in segment or segment in (".", ".."):
            raise DavError(f"CalDAV: {segment[:80]!r} cannot name a collection")
        path = self.home + quote(segment, safe="") + "/"
        answer = await self._http.request("MKCALENDAR", path, body=x.mkcalendar(display_name))
        if answer.status in (200, 201, 204):
            return Collection(path, segment, display_name)
        if answer.status not in (405, 409):
            self._home_status(answer)
            raise DavError(f"CalDAV: MKCALENDAR {path} answered HTTP {answer.status}")
        # 405 (RFC 4791) or 409 resource-must-be-null (Radicale): something is there already.
        props = (x.dav("resourcetype"), x.dav("displayname"))
        found = read_multistatus(await self._propfind(path, "0", *props), f"PROPFIND {path}")
        for response in found.responses:
            here = self._http.path_of(response.href) in (path, path.rstrip("/"))
            if here and response.has_type(x.caldav("calendar")):
                return Collection(path, segment, response.text(x.dav("displayname")) or None)
        raise DavError(f"CalDAV: {path} exists and is not a calendar collection")

    async def get(self, href: str) -> Resource | None:
        """The object at `href`, None when it is gone (404)."""
        path = self._http.under_home(href)
        answer = await self._http.request("GET", path, headers={"Accept": "text/calendar"})
        if answer.status in (404, 410):
            return None
        if answer.status != 200:
            raise DavError(f"CalDAV: GET {path} answered HTTP {answer.status}")
        if len(answer.body) > MAX_OBJECT_BYTES:
            raise DavError(f"CalDAV: {path} is over {MAX_OBJECT_BYTES} bytes; refused")
        etag = answer.headers.get("ETag") or await self._etag(path)
        if etag is None:
            raise DavError(f"CalDAV: {self._http.where} gave no ETag for {path}")
        return Resource(path, etag, answer.body.decode("utf-8", errors="replace"))

    async def _etag(self, path: str) -> str | None:
        answer = await self._propfind(path, "0", x.dav("getetag"))
        if answer.status == 404:
            return None
        for response in read_multistatus(answer, f"PROPFIND {path}").responses:
            if self._http.path_of(response.href) == path:
                etag = response.text(x.dav("getetag"))
                return etag.strip() if etag else None
        return None

    async def put(self, href: str, text: str, *, etag: str | None) -> str:
        """Write `text` at `href`: only if it is new (`etag` None) or still at `etag`.

        Returns the new ETag (from the answer, else read back); 412 -> PreconditionFailed.
        """
        path = self._http.under_home(href)
        condition = {"If-None-Match": "*"} if etag is None else {"If-Match": etag}
        answer = await self._http.request(
            "PUT",
            path,
            body=text.encode("utf-8"),
            headers={**condition, "Content-Type": _CALENDAR_TYPE},
        )
        if answer.status == 412:
            raise PreconditionFailed(f"CalDAV: {path} changed on the server (412)")
        if answer.status not in (200, 201, 204):
            raise DavError(f"CalDAV: PUT {path} answered HTTP {answer.status}")
        new = answer.headers.get("ETag") or await self._etag(path)
        if new is None:
            raise DavError(f"CalDAV: {self._http.where} gave no ETag for {path} after PUT")
        return new

    async def delete(self, href: str, *, etag: str | None) -> None:
        """Remove `href` (if still at `etag`, when given); already gone is fine."""
        path = self._http.under_home(href)
        headers = {} if etag is None else {"If-Match": etag}
        answer = await self._http.request("DELETE", path, headers=headers)
        if answer.status == 412:
            raise PreconditionFailed(f"CalDAV: {path} changed on the server (412)")
        if answer.status not in (200, 202, 204, 404, 410):
            raise DavError(f"CalDAV: DELETE {path} answered HTTP {answer.status}")

    async def sync(self, collection_href: str, token: str | None) -> SyncAnswer:
        """What changed in the collection since `token` (None or "": everything); see
        `dav_sync` for the fallbacks."""
        path = self._http.under_home(collection_href).rstrip("/") + "/"
        if path == self.home:
            raise DavError("CalDAV: sync needs a collection under the home, not the home")
        return await self._lister.sync(path, token)
