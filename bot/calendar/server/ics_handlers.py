"""`GET /calendar/ics/{agent_id}`: the agent's plan as an ICS feed a calendar app subscribes to.

The token comes as a Bearer header or, because calendar apps cannot send
headers, as `?token=` (the access policy reads it on this path only, and the
access log never shows its value). The full token reads any agent's feed; an
agent or feed token only its own agent's (403 otherwise, decided here before
anything is read).
"""

from __future__ import annotations

from aiohttp import web

from bot.calendar.ics.export import ICS_TYPE, Window, agent_feed
from bot.calendar.server.errors import ApiError, Handler
from bot.calendar.server.policy import CALLER_KEY, FEED_ROUTE
from bot.calendar.server.requests import calendar_of
from bot.core.validation import check_agent_id


async def get_feed(request: web.Request) -> web.StreamResponse:
    agent_id = check_agent_id(request.match_info["agent_id"])
    own = request[CALLER_KEY].agent_id
    if own is not None and own != agent_id:
        raise ApiError(403, "forbidden", f"this token reads agent {own!r}'s feed only")
    calendar = calendar_of(request)
    now = calendar.now()
    body = await agent_feed(
        calendar, agent_id, Window.around(now), timezone=calendar.timezone, stamp=now
    )
    return web.Response(
        body=body,
        content_type=ICS_TYPE,
        charset="utf-8",
        headers={
            "Cache-Control": "no-cache",
            "Content-Disposition": f'inline; filename="{agent_id}.ics"',
        },
    )


ICS_ROUTES: tuple[tuple[str, str, Handler], ...] = (("GET", FEED_ROUTE, get_feed),)
