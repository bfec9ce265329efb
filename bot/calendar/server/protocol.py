"""The HTTP connection itself (DESIGN §3.2, §3.3): malformed requests, idle connections, the
access log.

aiohttp answers a request it cannot parse (a header over `MAX_FIELD_SIZE`, a
bad request line) before any middleware runs, with a plain-text 400 and an
ERROR traceback in the log. Here such a request gets the API's JSON error and
one WARNING line instead: the client sent garbage, nothing is wrong with the
server. A keep-alive connection idle for `IDLE_TIMEOUT_S` between requests is
closed (a long poll in progress is a request, so it is not idle). The access
log never shows a `token=` query value.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_protocol import RequestHandler
from yarl import URL

log = logging.getLogger(__name__)

#: A connection idle this long between requests is closed.
IDLE_TIMEOUT_S = 60.0
#: The longest request line and header line accepted (aiohttp's defaults, said here).
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
#: What a malformed request's reason is cut to, in the answer and in the log.
_REASON_MAX = 200
#: Query parameters whose values never reach a log.
SECRET_PARAMETERS = frozenset({"token"})
#: A secret parameter's value inside a text aiohttp wrote (a malformed request line it quotes).
_SECRET_VALUE = re.compile(
    "(" + "|".join(sorted(SECRET_PARAMETERS)) + r")=[^&\s'\"]*", re.IGNORECASE
)


def redacted_target(request: web.BaseRequest) -> str:
    """The request's path and query, every secret parameter's value replaced."""
    query = request.query
    if not any(name.lower() in SECRET_PARAMETERS for name in query):
        return request.raw_path
    pairs = [
        (name, "REDACTED" if name.lower() in SECRET_PARAMETERS else value)
        for name, value in query.items()
    ]
    return str(URL.build(path=request.path, encoded=False).with_query(pairs))


class RedactingAccessLogger(AbstractAccessLogger):
    """One line per request, like aiohttp's, with `token=` values left out."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d %.3fs',
            request.remote,
            request.method,
            redacted_target(request),
            request.version.major,
            request.version.minor,
            response.status,
            response.body_length,
            time,
        )


class _JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, answering a request it could not parse in JSON."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        said = " ".join((message or str(exc) or "malformed request").split())
        reason = _SECRET_VALUE.sub(r"\1=REDACTED", said)[:_REASON_MAX]
        log.warning(
            "calendar server refused a malformed HTTP request from %s: %s", request.remote, reason
        )
        response = web.json_response(
            {"error": "bad_http", "detail": f"malformed HTTP request: {reason}"}, status=status
        )
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    """Makes `_JsonErrorHandler`s (aiohttp's own, with `handle_error` replaced)."""

    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        handler.__class__ = _JsonErrorHandler  # same slots: only `handle_error` differs
        return handler


class JsonErrorRunner(web.AppRunner):
    """An `AppRunner` with the connection rules above."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        settings: dict[str, Any] = {
            "handle_signals": False,
            "keepalive_timeout": IDLE_TIMEOUT_S,
            "max_line_size": MAX_LINE_SIZE,
            "max_field_size": MAX_FIELD_SIZE,
            "access_log_class": RedactingAccessLogger,
        }
        super().__init__(app, **{**settings, **kwargs})

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # adds no state: only `__call__` differs
        return server
