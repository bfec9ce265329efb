"""Who may do what (DESIGN §3.3), decided here and only here, before any handler runs.

The full token (`CALENDAR_TOKEN`, or `CALENDAR_TOKEN_PREVIOUS` during a
rotation) acts for any agent. An agent token (`agt.<id>.<gen>.<sig>`, see
`bot.core.tokens`) acts only as its agent: without `X-Agent-Id` the call is
that agent's; it may read its own slots and status, create and edit its own
slots and complete, abort, pause, resume or cancel them, and follow the change
feed, which then shows its own changes only; `start`, `defer`, `release`,
heartbeats and anything naming another agent are 403 `forbidden`, decided
before the handler runs, so a refused call changes nothing. A feed token
reads only its agent's ICS feed (`GET /calendar/ics/{agent_id}`), where the
token may also come as `?token=` (calendar apps cannot send headers); it is 403
everywhere else. Every comparison is constant-time and tries every secret.

A slot of another agent, named by id, is 404 to an agent token exactly as a
slot that does not exist (the store scopes the lookup to the acting agent),
so its existence is not revealed.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web

from bot.calendar.server.errors import ApiError, Handler, error_response
from bot.calendar.server.requests import ACTING_AGENT_KEY, named_agent, parse_json
from bot.calendar.wire import (
    AGENT_STATUS_PATH,
    CHANGES_PATH,
    DAY_PATH,
    ICS_PATH,
    INFO_PATH,
    SERIES_PATH,
    SLOTS_PATH,
)
from bot.core.agents import AgentConfig
from bot.core.models import Action
from bot.core.tokens import TokenKind, parse_token, verify_token


class Role(StrEnum):
    """What the presented credentials make the caller."""

    #: The server has no token: everyone is trusted (loopback use).
    OPEN = "open"
    FULL = "full"
    AGENT = "agent"
    FEED = "feed"


@dataclass(frozen=True, slots=True)
class Caller:
    role: Role
    agent_id: str | None = None

    @property
    def principal(self) -> str:
        """Who the caller is, for keying what it did (e.g. its Idempotency-Keys)."""
        return self.role.value if self.agent_id is None else f"{self.role.value}:{self.agent_id}"


#: The ICS feed: the one route a feed token may call, and the one that reads `?token=`.
FEED_ROUTE = f"{ICS_PATH}/{{agent_id}}"
CALLER_KEY = web.RequestKey("calendar_caller", Caller)

#: The actions an agent token may take on its own slots.
AGENT_ACTIONS = frozenset(
    {Action.COMPLETE, Action.ABORT, Action.PAUSE, Action.RESUME, Action.CANCEL}
)
#: (method, route) an agent token may call; transitions are checked by action as well.
_AGENT_ROUTES = frozenset(
    {
        ("GET", DAY_PATH),
        ("GET", AGENT_STATUS_PATH),
        ("POST", SLOTS_PATH),
        ("GET", SLOTS_PATH),
        ("GET", INFO_PATH),
        ("GET", CHANGES_PATH),
        ("PATCH", f"{SLOTS_PATH}/{{slot_id}}"),
        ("GET", f"{SLOTS_PATH}/{{slot_id}}"),
        ("POST", f"{SLOTS_PATH}/{{slot_id}}/{{action}}"),
        # Its own series, read only (DESIGN §3.3): making or ending one is for people.
        ("GET", SERIES_PATH),
        ("GET", f"{SERIES_PATH}/{{series_id}}"),
        ("GET", FEED_ROUTE),
        ("POST", FEED_ROUTE),  # importing into its own calendar
    }
)


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The secrets the server accepts and each agent's token generation."""

    secrets: tuple[str, ...]
    #: Agent id -> token_generation; None when the server was given no agents (all at 1).
    generations: Mapping[str, int] | None = None

    @classmethod
    def of(
        cls,
        token: str | None,
        previous_token: str | None = None,
        agents: Iterable[AgentConfig] | None = None,
    ) -> AccessPolicy:
        secrets = tuple(s for s in (token, previous_token) if s) if token else ()
        generations = {a.id: a.token_generation for a in agents} if agents is not None else None
        return cls(secrets, generations)

    def identify(self, authorization: str | None) -> Caller | None:
        """The caller these credentials make, or None (401) when they make none."""
        if not self.secrets:
            return Caller(Role.OPEN)
        scheme, _, credentials = (authorization or "").partition(" ")
        presented = credentials.strip()
        if scheme.lower() != "bearer" or not presented:
            return None
        full = False
        for secret in self.secrets:  # every secret, no early exit
            full |= hmac.compare_digest(presented.encode(), secret.encode())
        if full:
            return Caller(Role.FULL)
        derived = parse_token(presented)
        if derived is None:
            return None
        if self.generations is None:
            generation = 1
        elif derived.agent_id in self.generations:
            generation = self.generations[derived.agent_id]
        else:
            return None
        if not verify_token(derived, self.secrets, generation):
            return None
        role = Role.AGENT if derived.kind is TokenKind.AGENT else Role.FEED
        return Caller(role, derived.agent_id)


POLICY_KEY = web.AppKey("calendar_policy", AccessPolicy)


def _forbidden(detail: str) -> ApiError:
    return ApiError(403, "forbidden", detail)


def _canonical(request: web.Request) -> str | None:
    route = request.match_info.route
    return route.resource.canonical if route.resource is not None else None


async def _check_agent_call(request: web.Request, own: str) -> None:
    """Raise 403 unless an agent token may make this call as `own`."""
    canonical = _canonical(request)
    if (request.method, canonical) not in _AGENT_ROUTES:
        raise _forbidden(f"an agent token may not call {request.method} {request.path}")
    action = request.match_info.get("action")
    if action is not None and action not in {a.value for a in AGENT_ACTIONS}:
        raise _forbidden(f"an agent token may not {action} a slot (the moderator does that)")
    named = named_agent(request)
    if named is None and request.method == "GET":
        named = request.query.get("agent_id")
    if named is not None and named != own:
        raise _forbidden(f"this token acts for agent {own!r} only, not {named!r}")
    if request.method == "POST" and canonical == SLOTS_PATH:
        raw = await request.read()
        body = parse_json(raw) if raw.strip() else None
        given = body.get("agent_id") if isinstance(body, dict) else None
        if isinstance(given, str) and given != own:
            raise _forbidden(f"this token acts for agent {own!r} only, not {given!r}")


@web.middleware
async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one gate: 401 without valid credentials, 403 for what the caller may not do."""
    authorization = request.headers.get("Authorization")
    feed = request.method == "GET" and _canonical(request) == FEED_ROUTE
    if feed and authorization is None and "token" in request.query:
        authorization = f"Bearer {request.query['token']}"
    caller = request.app[POLICY_KEY].identify(authorization)
    if caller is None:
        response = error_response(
            401,
            "unauthorized",
            "missing, wrong or revoked bearer token "
            "(send Authorization: Bearer <CALENDAR_TOKEN or the agent's token>)",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="calendar"'
        return response
    request[CALLER_KEY] = caller
    if caller.role is Role.FEED and not feed:
        raise _forbidden("a feed token reads its agent's ICS feed and nothing else")
    if caller.role is Role.AGENT:  # a feed token's agent is checked by the feed itself
        assert caller.agent_id is not None
        if request.match_info.http_exception is None:
            await _check_agent_call(request, caller.agent_id)
        request[ACTING_AGENT_KEY] = caller.agent_id
    return await handler(request)
