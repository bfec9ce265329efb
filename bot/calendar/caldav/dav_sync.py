"""Reading a calendar collection: sync-collection (RFC 6578), calendar-multiget, full listings.

`Lister.sync` asks sync-collection (sync-level 1) for the hrefs and ETags that
changed since a token, then fetches the changed objects with calendar-multiget
in batches of `MULTIGET_BATCH`. A token the server refuses (DAV:valid-sync-token:
expired, or from before a restore) starts the sync over from the empty token,
which is a full listing with a fresh token. A server without sync-collection
is remembered as such and listed whole with calendar-query (or, failing that,
PROPFIND + multiget) at every call, without a token: the caller diffs.

Objects are taken only when their href is directly in the collection, and
only up to `MAX_OBJECT_BYTES` each; the rest are skipped with a log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.calendar.caldav import dav_xml as x
from bot.calendar.caldav.dav_http import Answer, CollectionGone, DavError, DavHttp, shown_href

log = logging.getLogger(__name__)

#: A calendar object larger than this (UTF-8 bytes) is skipped in listings.
MAX_OBJECT_BYTES = 1 << 20
#: hrefs per calendar-multiget.
MULTIGET_BATCH = 100
#: sync-collection rounds when the server truncates its answer (507) before we give up.
_SYNC_ROUNDS = 50
#: Answers to sync-collection that mean "no sync here" (rather than a broken request).
_NO_SYNC = frozenset({400, 403, 405, 409, 415, 422, 501})
#: The UID line of an object (its value up to 200 characters): what a skipped object is named by.
_UID_LINE = re.compile(r"^UID(?:;[^:\r\n]*)?:([^\r\n]{0,200})", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Resource:
    href: str  # absolute path of the .ics resource
    etag: str  # exactly as the server gave it (with quotes)
    text: str  # the calendar object (VCALENDAR text), as the server keeps it


@dataclass(frozen=True, slots=True)
class SyncAnswer:
    token: str | None  # the new sync token; None when the server has none
    changed: list[Resource]  # created or changed since the token (everything when full)
    removed: list[str]  # hrefs deleted since the token (empty when full: the caller diffs)
    full: bool  # a full listing (first call, no sync support, or the token refused)


def read_multistatus(answer: Answer, what: str) -> x.Multistatus:
    """The 207 answer's responses; DavError for any other status or a malformed body."""
    if answer.status != 207:
        raise DavError(f"CalDAV: {what} answered HTTP {answer.status}")
    try:
        return x.parse_multistatus(answer.body)
    except x.XmlError as exc:
        raise DavError(f"CalDAV: {what}: {exc}") from None


class Lister:
    """Listings of the collections of one server (`http`, which bounds every answer)."""

    def __init__(self, http: DavHttp) -> None:
        self._http = http
        #: collections whose server answered sync-collection with "not supported"
        self.no_sync: set[str] = set()

    async def _report(self, path: str, body: bytes, depth: str) -> Answer:
        return await self._http.request("REPORT", path, body=body, depth=depth)

    def member(self, collection: str, href: str) -> str | None:
        """`href` as a path when it names an object directly in `collection`, else None."""
        path = self._http.path_of(href)
        if path is None or not path.startswith(collection):
            return None
        name = path[len(collection) :]
        return path if name and "/" not in name and name not in (".", "..") else None

    def _outside(self, collection: str, href: str) -> None:
        if self._http.path_of(href) not in (collection, collection.rstrip("/")):
            log.warning("CalDAV: ignored %r in the answer: not in %s", shown_href(href), collection)

    async def sync(self, collection: str, token: str | None) -> SyncAnswer:
        if collection in self.no_sync:
            return SyncAnswer(None, await self.full_listing(collection), [], True)
        sent = token or ""
        full = not sent
        changed: dict[str, str] = {}
        removed: set[str] = set()
        new_token: str | None = None
        for _round in range(_SYNC_ROUNDS):
            what = f"sync-collection of {collection}"
            answer = await self._report(collection, x.sync_collection(sent), "0")
            if answer.status != 207:
                refused = x.dav("valid-sync-token") in x.error_conditions(answer.body)
                if refused and sent:
                    log.info("CalDAV: %s refused the sync token; listing it whole", collection)
                    sent, full, new_token = "", True, None
                    changed.clear()
                    removed.clear()
                    continue
                if answer.status == 404:
                    raise CollectionGone(f"CalDAV: no collection at {collection} (404)")
                if answer.status in _NO_SYNC:
                    log.info(
                        "CalDAV: no sync-collection on %s (HTTP %d); full listings from now on",
                        collection,
                        answer.status,
                    )
                    self.no_sync.add(collection)
                    return SyncAnswer(None, await self.full_listing(collection), [], True)
                raise DavError(f"CalDAV: {what} answered HTTP {answer.status}")
            status = read_multistatus(answer, what)
            truncated = False
            for response in status.responses:
                path = self.member(collection, response.href)
                if path is None:
                    truncated = truncated or response.status == 507
                    self._outside(collection, response.href)
                    continue
                if response.status in (404, 410):
                    changed.pop(path, None)
                    if not full:
                        removed.add(path)
                else:
                    removed.discard(path)
                    changed[path] = (response.text(x.dav("getetag")) or "").strip()
            new_token = status.sync_token
            if new_token is None:
                log.info("CalDAV: %s gave no sync token; full listings from now on", collection)
                self.no_sync.add(collection)
                return SyncAnswer(None, await self.full_listing(collection), [], True)
            if not truncated or new_token == sent:
                break
            sent = new_token  # 507: the server sent part of the changes; ask for the rest
        else:
            raise DavError(f"CalDAV: {collection} kept truncating its sync answer")
        found, missing = await self.multiget(collection, changed)
        if not full:
            removed.update(missing)
        return SyncAnswer(new_token, found, sorted(removed), full)

    async def multiget(
        self, collection: str, hrefs: Iterable[str]
    ) -> tuple[list[Resource], list[str]]:
        """The objects at `hrefs` (in batches), and the hrefs the server says are gone."""
        wanted = list(dict.fromkeys(hrefs))
        found: list[Resource] = []
        missing: list[str] = []
        for start in range(0, len(wanted), MULTIGET_BATCH):
            batch = wanted[start : start + MULTIGET_BATCH]
            answer = await self._report(collection, x.calendar_multiget(batch), "1")
            responses = read_multistatus(answer, f"calendar-multiget in {collection}").responses
            gone = [
                path
                for r in responses
                if r.status in (404, 410) and (path := self.member(collection, r.href))
            ]
            found.extend(self.resources(collection, responses))
            missing.extend(gone)
        return found, missing

    async def full_listing(self, collection: str) -> list[Resource]:
        """Every object of the collection: calendar-query, else PROPFIND depth 1 + multiget."""
        answer = await self._report(collection, x.calendar_query(), "1")
        if answer.status == 207:
            return self.resources(collection, read_multistatus(answer, "calendar-query").responses)
        if answer.status == 404:
            raise DavError(f"CalDAV: no collection at {collection} (404)")
        props = x.propfind(x.dav("getetag"), x.dav("resourcetype"))
        listing = await self._http.request("PROPFIND", collection, body=props, depth="1")
        members = [
            path
            for r in read_multistatus(listing, f"PROPFIND {collection}").responses
            if not r.has_type(x.dav("collection")) and (path := self.member(collection, r.href))
        ]
        found, _missing = await self.multiget(collection, members)
        return found

    def resources(self, collection: str, responses: Iterable[x.DavResponse]) -> list[Resource]:
        """The objects of a multiget or query answer, within `MAX_OBJECT_BYTES` each."""
        found: list[Resource] = []
        for response in responses:
            path = self.member(collection, response.href)
            if path is None:
                self._outside(collection, response.href)
                continue
            data = response.text(x.caldav("calendar-data"))
            etag = (response.text(x.dav("getetag")) or "").strip()
            if data is None or not etag:
                continue  # a 404 (gone) or an object the server cannot show
            size = len(data) if len(data) * 4 <= MAX_OBJECT_BYTES else len(data.encode())
            if size > MAX_OBJECT_BYTES:
                log.warning(
                    "CalDAV: skipped %s (UID %r): %d bytes of calendar data, over the limit of %d",
                    path,
                    _uid_in(data),
                    size,
                    MAX_OBJECT_BYTES,
                )
                continue
            found.append(Resource(path, etag, data))
        return found


def _uid_in(data: str) -> str:
    """The object's UID as its first UID line has it, unread otherwise ("?" without one)."""
    found = _UID_LINE.search(data)
    return found.group(1).strip() if found else "?"
