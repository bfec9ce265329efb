"""Faults in the calendar's HTTP answers: one middleware a test switches between faults at will.

Put outermost in the calendar server's app (`app.middlewares.insert(0, switch.middleware)`),
it refuses with a status, answers garbage, answers late or drops fields from
slots while `switch.fault` is set, and counts every answer it gave. The
fault tests drive the whole range; the end-to-end harness uses it to make the
served calendar refuse chosen slot actions (`refuse_actions`).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_claim(request: web.Request) -> bool:
    return request.method == "POST" and request.path.endswith("/start")


def any_call(request: web.Request) -> bool:
    return True


@dataclass
class HttpFault:
    """What the calendar does wrong while the fault is on.

    kind: `status` answers `status` with a JSON error; `garbage` answers 200 with
    truncated JSON; `slow` waits `delay_s` real seconds; `drop_fields` removes
    from the slots named in `drop` the fields given there, in every slot list it answers.
    `after`: the request is processed first and only its answer is spoiled (or
    held back), the lost-answer case; otherwise it never reaches the handler
    (or, for `slow`, reaches it late).
    """

    kind: str
    applies: Callable[[web.Request], bool] = any_call
    after: bool = False
    status: int = 500
    delay_s: float = 0.0
    #: slot id -> the fields it loses (`drop_fields`)
    drop: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class FaultSwitch:
    """The outermost middleware: passes everything through unless a fault is on."""

    def __init__(self) -> None:
        self.fault: HttpFault | None = None
        self.hits: Counter[str] = Counter()
        #: (method, last path segment or route, status) of every answer given
        self.answers: Counter[tuple[str, str, int]] = Counter()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await self._answer(request, handler)
        action = request.match_info.get("action")
        self.answers[(request.method, action or request.path, response.status)] += 1
        return response

    def claims(self, status: int) -> int:
        """How many `start` calls were answered with `status`."""
        return self.answers[("POST", "start", status)]

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = self.fault
        if fault is None or not fault.applies(request):
            return await handler(request)
        self.hits[fault.kind] += 1
        if fault.kind == "slow":
            if not fault.after:
                await request.read()  # received in full; a slow backend gets to it late
                await asyncio.sleep(fault.delay_s)
                return await handler(request)
            response = await handler(request)
            await asyncio.sleep(fault.delay_s)
            return response
        if fault.kind == "drop_fields":
            return _without_fields(await handler(request), fault)
        if fault.after:
            await handler(request)
        if fault.kind == "status":
            return web.json_response(
                {"error": "injected", "detail": f"injected HTTP {fault.status}"},
                status=fault.status,
            )
        if fault.kind == "garbage":
            return web.Response(
                status=200, body=b'{"slots": [{"id": "', content_type="application/json"
            )
        raise AssertionError(f"unknown fault kind {fault.kind!r}")


def _without_fields(response: web.StreamResponse, fault: HttpFault) -> web.StreamResponse:
    if not isinstance(response, web.Response) or response.status != 200:
        return response
    raw = response.body
    if not isinstance(raw, bytes):
        return response
    data = json.loads(raw)
    if not isinstance(data, dict):
        return response
    lists = [data.get("slots")]
    if isinstance(data.get("agents"), dict):  # the batched heartbeat: a list per agent
        lists += [one.get("slots") for one in data["agents"].values() if isinstance(one, dict)]
    for items in lists:
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and item.get("id") in fault.drop:
                for name in fault.drop[item["id"]]:
                    item.pop(name, None)
    kept = {k: v for k, v in response.headers.items() if k.lower() in {"etag", "cache-control"}}
    return web.json_response(data, status=200, headers=kept)


def refusing_actions(actions: Collection[str], status: int = 503) -> HttpFault | None:
    """A fault that answers `status` to `POST /calendar/slots/{id}/<action>` for each of
    `actions` (`"*"`: to every call), like a backend outage; None for no actions."""
    chosen = frozenset(actions)
    if not chosen:
        return None

    def applies(request: web.Request) -> bool:
        action = request.path.rstrip("/").rsplit("/", 1)[-1]
        return "*" in chosen or (request.method == "POST" and action in chosen)

    return HttpFault("status", applies=applies, status=status)
