"""The calendar REST API (DESIGN §3) served over an `EmbeddedCalendar`.

Handlers stay thin (`handlers`): they read the request (`requests`), call the
store, and shape JSON.
Every answer, errors and unknown routes included, is JSON with
`{"error", "detail"}` on failure, so a client never has to guess a format.

Faults can be injected by adding aiohttp middlewares to the app returned by
`make_app` before it is started (`serve_app` starts any such app); nothing in
here exists for tests.

POSTs may carry an `Idempotency-Key`: the client sends one per logical call and
keeps it across retries. For every POST but `start`, the server replays the
first successful answer to a repeat from memory (for a while). For `start` the
key is the *claim key* and goes to the store instead, which keeps it with the
slot while the slot is held: a `start` repeating it answers 200 with the slot
as it is now (header `Idempotent-Replayed: true`), even after a server restart
and however late the repeat comes. Without that, a retried or re-sent claim
whose first answer was lost would come back as 409 `version_mismatch`, and the
moderator could not tell its own claim from another moderator's. The memory
cache (`middleware`) stays out of `start`, so it can never answer an old copy
of the slot.

A client that hangs up mid-request (its timeout) is logged in one INFO line,
not as a server error: nothing is wrong on this side (`errors`).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from bot.calendar.server.changes import install_changes
from bot.calendar.server.errors import ApiError, error_response, json_errors
from bot.calendar.server.handlers import ROUTES
from bot.calendar.server.health import install_health, observe
from bot.calendar.server.middleware import IDEMPOTENCY_KEY, ReplayCache, idempotency
from bot.calendar.server.policy import POLICY_KEY, AccessPolicy, access
from bot.calendar.server.protocol import JsonErrorRunner
from bot.calendar.server.requests import CALENDAR_KEY
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.limits import BODY_MAX_BYTES

__all__ = [
    "CALENDAR_KEY",
    "ROUTES",
    "ApiError",
    "error_response",
    "make_app",
    "serve_app",
    "start_server",
]


def make_app(
    calendar: EmbeddedCalendar,
    *,
    token: str | None = None,
    previous_token: str | None = None,
    agents: Iterable[AgentConfig] | None = None,
) -> web.Application:
    """The API over `calendar`; auth is on when `token` is a non-empty string.

    `previous_token` is accepted as well during a rotation; `agents` give each
    agent's token generation (without them every agent is at generation 1).
    """
    # `observe` first: it answers /healthz before the token is checked and counts refusals.
    app = web.Application(
        middlewares=[observe, json_errors, access, idempotency], client_max_size=BODY_MAX_BYTES
    )
    install_health(app, calendar)
    install_changes(app)
    app[CALENDAR_KEY] = calendar
    app[POLICY_KEY] = AccessPolicy.of(token, previous_token, agents)
    app[IDEMPOTENCY_KEY] = ReplayCache()
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app


async def serve_app(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start any app (e.g. one with extra middlewares) and answer the port it got."""
    runner = JsonErrorRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    addresses = runner.addresses
    actual = int(addresses[0][1]) if addresses else port
    return runner, actual


async def start_server(
    calendar: EmbeddedCalendar,
    host: str,
    port: int,
    *,
    token: str | None = None,
    previous_token: str | None = None,
    agents: Iterable[AgentConfig] | None = None,
) -> tuple[web.AppRunner, int]:
    """Serve `calendar` on host:port (0 picks a free port); stop with `runner.cleanup()`."""
    app = make_app(calendar, token=token, previous_token=previous_token, agents=agents)
    return await serve_app(app, host, port)
