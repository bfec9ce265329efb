"""discord.py's REST calls counted by route template, and its gateway connection followed.

discord.py sends every REST call through `HTTPClient.request(route, ...)`,
where `route.path` is the template (`/guilds/{guild_id}/channels`) and the ids
are only filled into the URL. The template is put in a context variable for
the duration of that call, and an aiohttp trace on discord.py's own session
counts each attempt (discord.py retries 429s and 5xx itself) with its real
status, reading the template from the variable: the trace callbacks run in the
calling task, so they see it. A request outside `request()` (the gateway's
websocket, a CDN read) is counted under "other".

`moderator_discord_connected` is 1 from READY or RESUMED until a disconnect.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.metrics.instruments import ModeratorMetrics

_ROUTE: contextvars.ContextVar[str] = contextvars.ContextVar("discord_route", default="other")


def attach_discord(client: commands.Bot, metrics: ModeratorMetrics) -> None:
    """Instrument `client` before it logs in (the trace goes on the session made at login)."""
    http = client.http
    original: Callable[..., Awaitable[Any]] = http.request

    async def request(route: discord.http.Route, **kwargs: Any) -> Any:
        token = _ROUTE.set(f"{route.method} {route.path}")
        try:
            return await original(route, **kwargs)
        finally:
            _ROUTE.reset(token)

    setattr(http, "request", request)  # noqa: B010 - an instance attribute over the method
    http.http_trace = _trace(metrics)

    async def up() -> None:
        metrics.set_discord_connected(True)

    async def down() -> None:
        metrics.set_discord_connected(False)

    client.add_listener(up, "on_ready")
    client.add_listener(up, "on_resumed")
    client.add_listener(down, "on_disconnect")


def _trace(metrics: ModeratorMetrics) -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def ended(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        metrics.discord_requests.labels(
            route=_ROUTE.get(), status=str(params.response.status)
        ).inc()

    async def failed(
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        _params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        metrics.discord_requests.labels(route=_ROUTE.get(), status="error").inc()

    trace.on_request_end.append(ended)
    trace.on_request_exception.append(failed)
    trace.freeze()
    return trace
