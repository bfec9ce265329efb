"""`METRICS_LISTEN`: `/healthz` and `/metrics` for the people running the moderator.

`/healthz` answers 200 `{"status": "ok"}` while Discord is connected (or the
bot runs headless) and every agent synced within 3 x `SYNC_INTERVAL_S`;
otherwise 503 with the reasons as JSON, at most `MAX_REASONS` of them (a
hundred agents behind a dead calendar are one line's worth of news). Before
the moderator is built it is 503 "starting".

Neither path asks for a token: the listener is meant for a private address
(the default examples bind 127.0.0.1), and what it tells is counts, not slots.
"""

from __future__ import annotations

from aiohttp import web

from bot.calendar.server import serve_app
from bot.calendar.server.health import metrics_response
from bot.metrics.instruments import ModeratorMetrics

#: An agent whose last good sync is older than this many sync intervals is unhealthy.
STALE_SYNCS = 3
MAX_REASONS = 10

_METRICS_KEY = web.AppKey("moderator_metrics", ModeratorMetrics)


def health_report(metrics: ModeratorMetrics) -> list[str]:
    """Why the moderator is not healthy; empty when it is."""
    reasons: list[str] = []
    if metrics.discord_connected_now is False:
        reasons.append("Discord is not connected")
    moderator = metrics.moderator
    if moderator is None:
        return [*reasons, "starting: the moderator is not running yet"]
    limit = STALE_SYNCS * metrics.sync_interval_s
    stale: list[str] = []
    for vital in moderator.vitals():
        age = vital.last_sync_age_s
        if age is None:
            stale.append(f"agent {vital.agent_id} has not synced yet")
        elif age > limit:
            stale.append(
                f"agent {vital.agent_id} last synced {age:.0f} s ago "
                f"(more than {STALE_SYNCS} x SYNC_INTERVAL_S = {limit:g} s)"
            )
    reasons.extend(stale[:MAX_REASONS])
    if len(stale) > MAX_REASONS:
        reasons.append(f"and {len(stale) - MAX_REASONS} more agent(s) not synced lately")
    return reasons


async def _health(request: web.Request) -> web.Response:
    reasons = health_report(request.app[_METRICS_KEY])
    if not reasons:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "unavailable", "reasons": reasons}, status=503)


async def _metrics(request: web.Request) -> web.Response:
    return metrics_response(request.app[_METRICS_KEY].registry)


def metrics_app(metrics: ModeratorMetrics) -> web.Application:
    app = web.Application()
    app[_METRICS_KEY] = metrics
    app.router.add_get("/healthz", _health)
    app.router.add_get("/metrics", _metrics)
    return app


async def serve_metrics(
    metrics: ModeratorMetrics, host: str, port: int
) -> tuple[web.AppRunner, int]:
    """Serve on host:port (0 picks one); `OSError` when the port is taken. Stop with `cleanup()`."""
    return await serve_app(metrics_app(metrics), host, port)
