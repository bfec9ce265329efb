"""The CalDAV client's HTTP: one aiohttp session, bounded answers, paths kept on one server.

Every request goes to the server of the calendar home and nowhere else: hrefs
the server names (absolute URLs or paths) become paths on that server, or are
refused; redirects are followed only on the same scheme, host and port, a few
hops at most. What the server answers is read up to a bound (`max_bytes`),
past which the answer is refused rather than held in memory.

No message says who we are: the credentials go in the Authorization header
of each request and nowhere else, and errors name the server as host:port.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urljoin, urlsplit

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from bot.core.calendar import CalendarAuthError, CalendarError, CalendarUnavailable
from bot.net import TRANSIENT_NETWORK_ERRORS, OwnedSession

#: Characters left as they are when a path is re-quoted (RFC 3986 pchar and "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_REDIRECTS = 3
_SAFE_METHODS = frozenset({"GET", "PROPFIND", "REPORT", "OPTIONS"})


class DavError(CalendarError):
    """A CalDAV request failed in a way a retry will not mend (refused, malformed, too big)."""


class DavAuthFailed(CalendarAuthError):
    """The server refused CALENDAR_USERNAME/CALENDAR_PASSWORD (401, or 403 on the home)."""


class CollectionGone(DavError):
    """404 on a collection in use: deleted in the app (and perhaps made again elsewhere)."""


class DavHomeMissing(DavError):
    """The calendar home (the path of CALENDAR_URL) is not there or is no collection."""


class DavUnreachable(CalendarUnavailable):
    """No answer (connection refused, reset, timed out) or a 5xx: worth trying again later."""


class PreconditionFailed(DavError):
    """412: the resource's ETag is no longer the one the conditional PUT/DELETE named."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


def normal_path(path: str) -> str:
    """`path` percent-encoded one way: equal paths compare equal whatever the server's quoting."""
    return quote(unquote(path), safe=_PATH_SAFE)


def shown_href(href: str) -> str:
    """`href` as a log line may show it: without any userinfo, at most 200 characters."""
    parts = urlsplit(href.strip())
    if parts.username is not None or parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        href = parts._replace(netloc=host).geturl()
    return href[:200]


class DavHttp:
    """Requests to the one server of `home_url`, counted in `requests`, each answer read
    whole up to `max_bytes`."""

    def __init__(
        self,
        home_url: str,
        *,
        username: str | None,
        password: str | None,
        timeout_s: float,
        max_bytes: int,
    ) -> None:
        parts = urlsplit(home_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DavError("CalDAV: the calendar home must be an http(s)://host/path/ URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise DavError("CalDAV: the calendar home's port is not a number 1..65535") from None
        if username is None and parts.username is not None:
            username, password = unquote(parts.username), unquote(parts.password or "")
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        #: scheme://host:port, without userinfo
        self.origin = f"{parts.scheme}://{host}:{port}"
        #: host:port, the only way a message names the server
        self.where = f"{host}:{port}"
        self.home = normal_path(parts.path.rstrip("/") + "/")
        self.requests = 0
        #: the Authorization header (Basic), kept here and sent with each request only
        self._auth: dict[str, str] = {}
        if username:
            if ":" in username:
                raise DavError("CalDAV: CALENDAR_USERNAME may not contain ':' (Basic auth)")
            self._auth = {"Authorization": aiohttp.encode_basic_auth(username, password or "")}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._http = OwnedSession(None)

    async def close(self) -> None:
        await self._http.close()

    def path_of(self, href: str) -> str | None:
        """The path on our server that `href` names (a path or an absolute URL); None when
        it names another server or is no http(s) URL at all."""
        target = urlsplit(urljoin(self.origin + "/", href.strip()))
        if target.scheme not in ("http", "https") or not target.hostname:
            return None
        try:
            port = target.port or (443 if target.scheme == "https" else 80)
        except ValueError:
            return None
        host = target.hostname if ":" not in target.hostname else f"[{target.hostname}]"
        if f"{target.scheme}://{host}:{port}".lower() != self.origin.lower():
            return None
        return normal_path(target.path or "/")

    def under_home(self, href: str) -> str:
        """`href` as a path under the home; DavError for anything else (another server,
        another user's folder): we only ever touch our own calendar home."""
        path = self.path_of(href)
        if path is None or not path.startswith(self.home) or "/../" in path + "/":
            raise DavError(
                f"CalDAV: {shown_href(href)!r} is not under the calendar home {self.home}"
            )
        return path

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        depth: str | None = None,
    ) -> Answer:
        """One request (plus same-server redirects), its answer read whole up to `max_bytes`.

        Raises DavUnreachable for no answer or a 5xx (and 401 as DavAuthFailed); every
        other status goes back to the caller. A safe method is tried once more when the
        server dropped a kept-alive connection under it.
        """
        sent = dict(headers or {})
        if depth is not None:
            sent["Depth"] = depth
        if body is not None:
            sent.setdefault("Content-Type", "application/xml; charset=utf-8")
        for _hop in range(_REDIRECTS + 1):
            answer = await self._send(method, path, body, sent)
            if answer.status in (301, 302, 307, 308) and method in _SAFE_METHODS:
                location = answer.headers.get("Location", "")
                moved = self.path_of(location)
                if moved is None:
                    raise DavError(
                        f"CalDAV: {self.where} redirected {method} {path} to another server;"
                        " not followed"
                    )
                path = moved
                continue
            if answer.status == 401:
                raise DavAuthFailed(
                    "CalDAV: the server refused CALENDAR_USERNAME/CALENDAR_PASSWORD (401)"
                )
            if answer.status >= 500 and not (method == "REPORT" and answer.status == 501):
                raise DavUnreachable(
                    f"CalDAV: {self.where} answered {method} {path} with HTTP {answer.status}"
                )
            return answer
        raise DavError(f"CalDAV: {self.where} redirected {method} too many times")

    async def _send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        url = URL(self.origin + path, encoded=True)
        session = self._http.get()
        tries = 2 if method in _SAFE_METHODS else 1
        for attempt in range(1, tries + 1):
            self.requests += 1
            try:
                async with session.request(
                    method,
                    url,
                    data=body,
                    headers={**headers, **self._auth},
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as response:
                    data = await _read_bounded(response, self._max_bytes, self.where, method, path)
                    return Answer(response.status, response.headers, data)
            except aiohttp.ServerDisconnectedError:
                if attempt < tries:
                    continue  # a kept-alive connection the server had closed: once more
                raise DavUnreachable(
                    f"CalDAV: {self.where} closed the connection ({method} {path})"
                ) from None
            except TimeoutError:
                raise DavUnreachable(
                    f"CalDAV: {self.where} did not answer {method} {path} within "
                    f"{self._timeout_s:g} s"
                ) from None
            except TRANSIENT_NETWORK_ERRORS as exc:
                raise DavUnreachable(
                    f"CalDAV: {self.where} unreachable ({type(exc).__name__}{_errno(exc)})"
                ) from None
        raise AssertionError("unreachable: the loop returns or raises")


async def _read_bounded(
    response: aiohttp.ClientResponse, max_bytes: int, where: str, method: str, path: str
) -> bytes:
    too_big = DavError(
        f"CalDAV: {where} answered {method} {path} with more than {max_bytes} bytes; refused"
    )
    if response.content_length is not None and response.content_length > max_bytes:
        raise too_big
    data = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        data += chunk
        if len(data) > max_bytes:
            raise too_big
    return bytes(data)


def _errno(exc: BaseException) -> str:
    """The OS error's name where there is one ("connection refused"), never the URL."""
    cause = exc.__cause__ or exc.__context__ if not isinstance(exc, OSError) else exc
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
    if isinstance(cause, OSError) and cause.strerror:
        return f": {cause.strerror.lower()}"
    return ""
