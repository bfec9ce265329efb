"""`GET /calendar/ics/{agent_id}`: the agent's plan as an ICS feed a calendar app subscribes to.

The token comes as a Bearer header or, because calendar apps cannot send
headers, as `?token=` (the access policy reads it on this path only, and the
access log never shows its value). The full token reads any agent's feed; an
agent or feed token only its own agent's (403 otherwise, decided here before
anything is read).

`POST` on the same path imports an ICS body for the agent (`calendar import`
against a served calendar): the full token or the agent's own agent token (whose
recurring events are refused by name: series are for people, DESIGN §3.3).
The body is streamed to a temporary file (at most `MAX_FILE_BYTES`, else
413), read there in bounded memory in a worker thread, and written in one
transaction; a file refused whole is 422 `bad_ics` and stores nothing.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from aiohttp import web

from bot.calendar.ics.convert import Refusal
from bot.calendar.ics.export import ICS_TYPE, Window, agent_feed
from bot.calendar.ics.plan import plan_import
from bot.calendar.ics.read import CHUNK, MAX_FILE_BYTES, IcsFileError
from bot.calendar.server.errors import ApiError, Handler
from bot.calendar.server.policy import CALLER_KEY, FEED_ROUTE, Caller, Role
from bot.calendar.server.requests import calendar_of
from bot.core.validation import check_agent_id

#: Why an agent's own upload keeps no recurring event.
AGENT_NO_SERIES = "a recurring event: series are planned by people (the full token)"


def _feed_agent(request: web.Request) -> str:
    agent_id = check_agent_id(request.match_info["agent_id"])
    own = request[CALLER_KEY].agent_id
    if own is not None and own != agent_id:
        raise ApiError(403, "forbidden", f"this token acts for agent {own!r} only")
    return agent_id


async def get_feed(request: web.Request) -> web.StreamResponse:
    agent_id = _feed_agent(request)
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


async def import_ics(request: web.Request) -> web.StreamResponse:
    agent_id = _feed_agent(request)
    calendar = calendar_of(request)
    with tempfile.TemporaryDirectory(prefix="ics-import-") as folder:
        path = Path(folder) / "import.ics"
        with path.open("wb") as file:
            size = 0
            async for chunk in request.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise ApiError(
                        413, "too_large", f"an import takes at most {MAX_FILE_BYTES >> 20} MiB"
                    )
                file.write(chunk)
        try:
            plan = await asyncio.to_thread(plan_import, path, agent_id, calendar.timezone)
        except IcsFileError as exc:
            raise ApiError(422, "bad_ics", str(exc).replace(str(path), "the file")) from None
    if request.get(CALLER_KEY, Caller(Role.OPEN)).role is Role.AGENT:
        # Series are planned and ended by people (DESIGN §3.3), as POST /calendar/series is.
        plan.refused += [Refusal(s.name, AGENT_NO_SERIES) for s in plan.series]
        plan.series = []
    outcome = await calendar.import_batch(agent_id, plan.series, plan.slots)
    skipped = [(r.name, r.reason) for r in plan.refused] + outcome.skipped
    return web.json_response(
        {
            "created": outcome.created,
            "updated": outcome.updated,
            "unchanged": outcome.unchanged,
            "skipped": [{"event": name, "reason": reason} for name, reason in skipped],
        }
    )


ICS_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", FEED_ROUTE, get_feed),
    ("POST", FEED_ROUTE, import_ics),
)
