"""Idempotent writes: the layer between the access policy and the handlers.

For every write but `start`, the first successful answer to an `Idempotency-Key`
is replayed to a repeat for a while: from memory while the first is still in
flight or recent, and from the store (`bot.calendar.store.replays`) after a
restart or on another server of the same store. For `start` the key is the claim
key and goes to the store with the claim (see `bot.calendar.store.transitions`),
so a replay can never answer an old copy of a claimed slot.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web

from bot.calendar.server.errors import ApiError, Handler
from bot.calendar.server.policy import CALLER_KEY, FEED_ROUTE, Caller, Role
from bot.calendar.server.requests import agent_header, calendar_of, header_value
from bot.calendar.store import MAX_CLAIM_KEY, EmbeddedCalendar
from bot.calendar.store.replays import REPLAY_TTL_S, KeptAnswer
from bot.calendar.wire import IDEMPOTENCY_HEADER, JSON_TYPE, REPLAYED_HEADER
from bot.core.calendar import CalendarError
from bot.core.models import Action

log = logging.getLogger(__name__)

#: Kept in memory as long as the store keeps them.
IDEMPOTENCY_TTL_S = REPLAY_TTL_S
IDEMPOTENCY_MAX = 4096
#: Larger answers are not kept for replay (a repeat then runs again), to bound memory.
IDEMPOTENCY_MAX_BODY = 256 * 1024


@dataclass
class _Replay:
    fingerprint: str
    created: float
    done: asyncio.Future[tuple[int, bytes] | None]


class ReplayCache:
    """Successful POST answers by (caller, Idempotency-Key), for a while; bounded in size.

    Keyed by the caller too, so one agent's key can never replay (or block) another's.
    """

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple[str, str], _Replay] = OrderedDict()

    def prune(self, now: float) -> None:
        while self.entries:
            key, entry = next(iter(self.entries.items()))
            too_many = len(self.entries) > IDEMPOTENCY_MAX
            if not too_many and now - entry.created < IDEMPOTENCY_TTL_S:
                break
            if not entry.done.done() and not too_many:
                break
            self.entries.pop(key)


IDEMPOTENCY_KEY = web.AppKey("idempotency", ReplayCache)


#: The methods that write, and so may carry an Idempotency-Key (DESIGN §3).
WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE"})


def _is_start(request: web.Request) -> bool:
    return request.method == "POST" and request.match_info.get("action") == Action.START.value


def _is_import(request: web.Request) -> bool:
    """An ICS upload is streamed to a file (up to its own bound), so it is not read here; its
    ids are stable, so a repeat imports the same events as unchanged."""
    resource = request.match_info.route.resource
    return request.method == "POST" and resource is not None and resource.canonical == FEED_ROUTE


@web.middleware
async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Replay the first successful answer to a repeated POST with the same Idempotency-Key.

    Not for `start`: its key is the claim key, which the store keeps durably and
    answers with the slot as it is now.
    """
    given = header_value(request, IDEMPOTENCY_HEADER)
    unrouted = request.match_info.http_exception is not None  # 404/405: nothing to replay
    if request.method not in WRITE_METHODS or given is None or unrouted:
        return await handler(request)
    if len(given) > MAX_CLAIM_KEY:
        raise ApiError(
            400, "bad_idempotency_key", f"Idempotency-Key must be at most {MAX_CLAIM_KEY} chars"
        )
    if _is_start(request) or _is_import(request):
        return await handler(request)
    caller: Caller = request.get(CALLER_KEY, Caller(Role.OPEN))
    key = (caller.principal, given)
    body = await request.read()
    acting = agent_header(request) or ""
    fingerprint = hashlib.sha256(
        b"\0".join([request.method.encode(), request.path.encode(), acting.encode(), body])
    ).hexdigest()
    cache = request.app[IDEMPOTENCY_KEY]
    now = time.monotonic()
    cache.prune(now)
    earlier = cache.entries.get(key)
    if earlier is not None:
        _same_request(earlier.fingerprint, fingerprint)
        replay = await asyncio.shield(earlier.done)
        if replay is not None:
            return _replayed(*replay)
        # The earlier attempt was refused or failed: nothing to replay, so this one runs.
    mine = _Replay(fingerprint, now, asyncio.get_running_loop().create_future())
    cache.entries[key] = mine
    result: tuple[int, bytes] | None = None
    try:
        store = calendar_of(request)
        kept = await store.earlier_answer(*key)
        if kept is not None:
            _same_request(kept.fingerprint, fingerprint)
            result = (kept.status, kept.body)
            return _replayed(*result)
        response = await handler(request)
        if isinstance(response, web.Response) and 200 <= response.status < 300:
            sent = response.body
            if isinstance(sent, bytes) and len(sent) <= IDEMPOTENCY_MAX_BODY:
                result = (response.status, sent)
                await _keep(store, key, KeptAnswer(fingerprint, *result))
        return response
    finally:
        mine.done.set_result(result)
        if result is None and cache.entries.get(key) is mine:
            del cache.entries[key]


async def _keep(store: EmbeddedCalendar, key: tuple[str, str], answer: KeptAnswer) -> None:
    """The write stands whatever happens here: a store that cannot keep its answer now
    leaves the replay to this process' memory."""
    try:
        await store.keep_answer(*key, answer)
    except CalendarError as exc:
        log.warning("an Idempotency-Key answer was kept in memory only: %s", exc.detail)


def _same_request(kept: str, given: str) -> None:
    if kept != given:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request",
        )


def _replayed(status: int, payload: bytes) -> web.Response:
    return web.Response(
        status=status, body=payload, content_type=JSON_TYPE, headers={REPLAYED_HEADER: "true"}
    )
