"""The calendar server's `/healthz` and `/metrics` (DESIGN §11), kept apart from the API.

`/healthz` is for a load balancer or an orchestrator that holds no token: it
answers 200 `{"status": "ok"}` when the storage answers a read, else 503 with
the reason, and says nothing else (no counts, no versions, no agent ids). Its
handler is called by `observe`, the outermost middleware, *before* the bearer
check, so the auth middleware needs no list of exceptions; `AUTH_EXEMPT_PATHS`
names the open paths for anyone who must know.

`/metrics` is an ordinary route behind the token (Prometheus sends one with
`authorization: {credentials: ...}` in its scrape config): request counts are
not secret, but they tell a stranger what the agents are doing.

`calendar_requests_total{endpoint,status}` counts every request, refusals and
unknown paths included, labelled with the route *template*
(`POST /calendar/slots/{slot_id}/{action}`), never a slot id: a label per
slot would grow without bound. An unknown method or path is one label each.

Every app gets its own `CollectorRegistry`, so tests that run many servers in
one process never collide on a metric name.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from bot.calendar.server.errors import Handler
from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import CalendarError, SlotNotFound

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
#: Paths served without the bearer token (answered before the auth middleware runs).
AUTH_EXEMPT_PATHS = frozenset({HEALTH_PATH})

#: The storage must answer the health probe within this many seconds.
PROBE_TIMEOUT_S = 5.0
#: A slot id that is never stored: looking it up reads the store without finding anything.
_PROBE_SLOT_ID = "healthz-probe"
#: Methods counted by name; anything else is "OTHER" (a label per invented method is unbounded).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REGISTRY_KEY = web.AppKey("metrics_registry", CollectorRegistry)
_REQUESTS_KEY = web.AppKey("calendar_requests_total", Counter)
_STORE_KEY = web.AppKey("health_store", EmbeddedCalendar)


def metrics_response(registry: CollectorRegistry) -> web.Response:
    """The registry in Prometheus' text format (shared with the bot's metrics server)."""
    response = web.Response(body=generate_latest(registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def endpoint_of(request: web.Request) -> str:
    """`METHOD /route/{template}` of the matched route; bounded whatever the client sends."""
    method = request.method if request.method in _METHODS else "OTHER"
    resource = request.match_info.route.resource
    if resource is None:
        return f"{method} unmatched"
    return f"{method} {resource.canonical}"


async def storage_problem(calendar: EmbeddedCalendar) -> str | None:
    """Why the storage does not answer, or None when it does."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await calendar.get_slot(_PROBE_SLOT_ID)
    except SlotNotFound:
        return None
    except TimeoutError:
        return f"the storage did not answer within {PROBE_TIMEOUT_S:g} s"
    except CalendarError as exc:
        return f"the storage does not answer: {exc.detail}"
    return None


async def _health(request: web.Request) -> web.Response:
    problem = await storage_problem(request.app[_STORE_KEY])
    if problem is None:
        return web.json_response({"status": "ok"})
    log.warning("/healthz: %s", problem)
    return web.json_response({"status": "unavailable", "reason": problem}, status=503)


async def _metrics(request: web.Request) -> web.Response:
    return metrics_response(request.app[REGISTRY_KEY])


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts every request by route template and status; serves the open paths itself.

    An auth-exempt route's handler is called here, so the middlewares inside
    (the bearer check among them) never see the request.
    """
    route = request.match_info.route
    if request.path in AUTH_EXEMPT_PATHS and route.resource is not None:
        response: web.StreamResponse = await route.handler(request)
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _count(request, exc.status)
            raise
        except BaseException:
            _count(request, 500)
            raise
    _count(request, response.status)
    return response


def _count(request: web.Request, status: int) -> None:
    request.app[_REQUESTS_KEY].labels(endpoint=endpoint_of(request), status=str(status)).inc()


def install_health(app: web.Application, calendar: EmbeddedCalendar) -> None:
    """Give `app` its registry, its request counter and the `/metrics` route.

    `observe` must be the first middleware of `app` (outside the auth) for
    `/healthz` to be open and for refusals to be counted.
    """
    registry = CollectorRegistry()
    app[REGISTRY_KEY] = registry
    app[_STORE_KEY] = calendar
    app[_REQUESTS_KEY] = Counter(
        "calendar_requests",
        "Requests to the calendar API, by route template and HTTP status.",
        ["endpoint", "status"],
        registry=registry,
    )
    app.router.add_get(HEALTH_PATH, _health, allow_head=False)
    app.router.add_get(METRICS_PATH, _metrics, allow_head=False)
