"""The series calls (DESIGN §3.1), thin: read the request, call the store, shape the JSON."""

from __future__ import annotations

from aiohttp import web

from bot.calendar.server.errors import Handler
from bot.calendar.server.requests import agent_header, calendar_of, path_id, query_agent, read_body
from bot.calendar.wire import SERIES_PATH
from bot.core.models import Series, SeriesCreate, SeriesEdit

SERIES_ITEM = f"{SERIES_PATH}/{{series_id}}"


def _series_json(series: Series) -> web.Response:
    return web.json_response(series.model_dump(mode="json"))


async def create_series(request: web.Request) -> web.StreamResponse:
    new = await read_body(request, SeriesCreate)
    series = await calendar_of(request).create_series(new, agent_id=agent_header(request))
    return web.json_response(
        series.model_dump(mode="json"),
        status=201,
        headers={"Location": f"{SERIES_PATH}/{series.id}"},
    )


async def list_series(request: web.Request) -> web.StreamResponse:
    """`?agent_id=` or the acting agent; neither lists every agent's series."""
    found = await calendar_of(request).list_series(query_agent(request, required=False))
    return web.json_response({"series": [series.model_dump(mode="json") for series in found]})


async def get_series(request: web.Request) -> web.StreamResponse:
    series_id = path_id(request, "series_id")
    return _series_json(await calendar_of(request).get_series(series_id, agent_header(request)))


async def edit_series(request: web.Request) -> web.StreamResponse:
    edit = await read_body(request, SeriesEdit)
    series_id = path_id(request, "series_id")
    calendar = calendar_of(request)
    return _series_json(await calendar.edit_series(series_id, edit, agent_header(request)))


async def end_series(request: web.Request) -> web.StreamResponse:
    series_id = path_id(request, "series_id")
    return _series_json(await calendar_of(request).end_series(series_id, agent_header(request)))


SERIES_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", SERIES_PATH, create_series),
    ("GET", SERIES_PATH, list_series),
    ("GET", SERIES_ITEM, get_series),
    ("PATCH", SERIES_ITEM, edit_series),
    ("DELETE", SERIES_ITEM, end_series),
)
