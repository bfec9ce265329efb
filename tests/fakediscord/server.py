"""FakeDiscord: one guild on loopback, REST under /api/v10 plus a gateway.

The object tests hold. It builds the guild (moderator bot, agents, an admin
with an admin role, a plain member, a separate guild owner), serves it, and
records everything: requests, gateway dispatches, interaction answers, schema
violations, permission denials. Tests drive discord.py's real code against it
and then assert on what Discord would have seen and decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from tests.fakediscord import schemacheck
from tests.fakediscord.context import Ctx, RecordedRequest, RouteSpec
from tests.fakediscord.errors import ApiError, json_response
from tests.fakediscord.gateway import (
    GUILD_MEMBERS,
    GUILD_MESSAGE_REACTIONS,
    GUILD_MESSAGES,
    GUILD_PRESENCES,
    GUILDS,
    MESSAGE_CONTENT,
    DispatchRecord,
    Gateway,
    GatewayConnectionRecord,
)
from tests.fakediscord.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    InteractionHandle,
    InteractionService,
)
from tests.fakediscord.messages import build_message, for_app, gateway_form
from tests.fakediscord.model import (
    CATEGORY,
    GUILD_TEXT_LIKE,
    TEXT,
    FakeChannel,
    FakeRole,
    FakeUser,
    GuildModel,
    Snowflakes,
    normalize_text_channel_name,
)
from tests.fakediscord.perms import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Overwrite,
    P,
)
from tests.fakediscord.rest import ROUTES, RestHandlers, match_route

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
T = TypeVar("T")

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_DEFAULT_FAULT: dict[int, tuple[int, str]] = {
    400: (30013, "Maximum number of guild channels reached (500)"),
    401: (0, "401: Unauthorized"),
    403: (50013, "Missing Permissions"),
    404: (10003, "Unknown Channel"),
    500: (0, "500: Internal Server Error"),
    502: (0, "502: Bad Gateway"),
}
_FAULT_MESSAGES = {50001: "Missing Access", 50013: "Missing Permissions", 10003: "Unknown Channel"}


@dataclass
class Violation:
    """A request Discord documents as malformed (or a route the fake does not model)."""

    t: float
    method: str
    route: str
    path: str
    problems: list[str]
    body: Any

    def __str__(self) -> str:
        body = json.dumps(self.body, default=str)
        if len(body) > 400:
            body = body[:397] + "..."
        return f"{self.method} {self.route} ({self.path}): {'; '.join(self.problems)} body={body}"


@dataclass
class Denial:
    """A 403 the fake gave, with what was missing (Discord's message never says)."""

    t: float
    method: str
    route: str
    missing: list[str]
    where: str


@dataclass
class OverwriteNote:
    """An overwrite Discord accepted silently but that applies to no one."""

    t: float
    channel_id: int
    note: str


@dataclass
class Fault:
    method: str
    route: str
    status: int
    remaining: int
    code: int | None
    message: str | None
    retry_after: float
    is_global: bool


class FakeDiscord:
    """A strict fake of Discord for one guild. See the package docstring for use."""

    def __init__(
        self,
        *,
        guild_id: int | None = None,
        guild_name: str = "agents-hq",
        token: str = "fake-bot-token.Gx1a2b.abcdefghijklmnopqrstuvwxyz0123",
        bot_name: str = "moderator",
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        admin_role_permissions: int = 0,
        agents: tuple[str, ...] = ("alice", "bob", "carol"),
        privileged_intents: int = MESSAGE_CONTENT,
        interaction_deadline: float = 3.0,
        heartbeat_interval_ms: int = 41250,
        category_channel_limit: int = 50,
        guild_channel_limit: int = 500,
        spec_path: str | Path | bool | None = True,
    ) -> None:
        self.ids = Snowflakes()
        gid = guild_id if guild_id is not None else self.ids.next()
        self.model = GuildModel(guild_id=gid, name=guild_name, snowflakes=self.ids)
        self.token = token
        self.privileged_intents = privileged_intents
        self.interaction_deadline = interaction_deadline
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.category_channel_limit = category_channel_limit
        self.guild_channel_limit = guild_channel_limit

        model = self.model
        self.everyone_role = model.add_role("@everyone", everyone_permissions, role_id=gid)
        self.bot_user = model.add_user(bot_name, bot=True)
        self.application_id = self.bot_user.id
        self.bot_role = model.add_role(
            bot_name, bot_permissions, managed=True, bot_id=self.bot_user.id
        )
        model.members[self.bot_user.id].roles.append(self.bot_role.id)
        self.owner = model.add_user("owner", bot=False)
        model.owner_id = self.owner.id
        self.admin_role = model.add_role("admins", admin_role_permissions)
        self.admin = model.add_user("admin", bot=False)
        model.members[self.admin.id].roles.append(self.admin_role.id)
        self.member = model.add_user("member", bot=False)
        self.agents: dict[str, FakeUser] = {}
        for name in agents:
            self.add_agent(name)

        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.denials: list[Denial] = []
        self.overwrite_notes: list[OverwriteNote] = []
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._waiters: list[asyncio.Future[None]] = []

        if spec_path is True:
            resolved = schemacheck.default_spec_path()
        elif spec_path is False or spec_path is None:
            resolved = None
        else:
            resolved = Path(spec_path)
        self.spec = schemacheck.load_spec(resolved)

        self.gateway = Gateway(self)
        self.interaction_service = InteractionService(self)
        self.rest = RestHandlers(self)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> FakeDiscord:
        app = web.Application()
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/resume-gateway", self.gateway.handle)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._api)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self.interaction_service.cancel_timers()
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for fut in self._waiters:
            if not fut.done():
                fut.cancel()

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started (await fake.start())")
        return self._port

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What `discord.http.Route.BASE` (DISCORD_API_BASE) must be set to."""
        return f"{self.http_url}{API_PREFIX}"

    @property
    def ws_url(self) -> str:
        """What `DiscordWebSocket.DEFAULT_GATEWAY` (DISCORD_GATEWAY_URL) must be set to."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_ws_url(self) -> str:
        """READY's `resume_gateway_url` (a different path, so tests can see it used)."""
        return f"ws://127.0.0.1:{self.port}/resume-gateway"

    @property
    def guild_id(self) -> int:
        return self.model.id

    def env(self) -> dict[str, str]:
        """Environment for running the bot as a subprocess against this fake."""
        return {
            "DISCORD_TOKEN": self.token,
            "DISCORD_GUILD_ID": str(self.guild_id),
            "DISCORD_API_BASE": self.api_base,
            "DISCORD_GATEWAY_URL": self.ws_url,
            "ADMIN_ROLE_ID": str(self.admin_role.id),
        }

    @contextlib.contextmanager
    def patch_discord_py(self) -> Iterator[None]:
        """Point discord.py's REST base and gateway URL here, restoring them after."""
        import discord.gateway
        import discord.http
        import yarl

        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.ws_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    # -- building the guild --------------------------------------------------------
    def add_agent(self, name: str, *, member: bool = True) -> FakeUser:
        """An agent's bot account (a member unless `member=False`); idempotent by name."""
        if name in self.agents:
            return self.agents[name]
        user = self.model.add_user(name, bot=True, member=member)
        self.agents[name] = user
        if member:
            self._member_added(user.id)
        return user

    def agent(self, name: str) -> FakeUser:
        return self.agents[name]

    def add_member(self, name: str, *, bot: bool = False, roles: tuple[int, ...] = ()) -> FakeUser:
        user = self.model.add_user(name, bot=bot)
        self.model.members[user.id].roles.extend(int(r) for r in roles)
        self._member_added(user.id)
        return user

    def _member_added(self, user_id: int) -> None:
        if hasattr(self, "gateway"):
            data = self.model.member_payload(user_id) | {"guild_id": str(self.guild_id)}
            self.gateway.dispatch("GUILD_MEMBER_ADD", data, intent=GUILD_MEMBERS)

    def add_role(self, name: str, permissions: int = 0) -> FakeRole:
        role = self.model.add_role(name, int(permissions))
        self.gateway.dispatch(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(self.guild_id), "role": role.payload()},
            intent=GUILDS,
        )
        return role

    def set_role_permissions(self, role_id: int, permissions: int) -> None:
        role = self.model.roles[role_id]
        role.permissions = int(permissions)
        self.gateway.dispatch(
            "GUILD_ROLE_UPDATE",
            {"guild_id": str(self.guild_id), "role": role.payload()},
            intent=GUILDS,
        )

    def set_bot_permissions(self, permissions: int) -> None:
        """The bot role's permissions (@everyone's still apply on top)."""
        self.set_role_permissions(self.bot_role.id, permissions)

    def add_channel(
        self,
        name: str,
        *,
        type: int = TEXT,
        parent_id: int | None = None,
        topic: str | None = None,
        overwrites: list[Overwrite] | None = None,
    ) -> int:
        """Seed a channel that already exists in the guild (no permission rules apply)."""
        if type in GUILD_TEXT_LIKE:
            name = normalize_text_channel_name(name)
        channel = FakeChannel(
            id=self.ids.next(),
            type=type,
            name=name,
            position=self.model.next_position(),
            parent_id=parent_id,
            topic=topic,
            overwrites=list(overwrites or []),
        )
        self._add_channel(channel, ctx=None)
        return channel.id

    def add_category(self, name: str, *, overwrites: list[Overwrite] | None = None) -> int:
        return self.add_channel(name, type=CATEGORY, overwrites=overwrites)

    # -- reading the state ---------------------------------------------------------
    @property
    def channels(self) -> dict[int, dict[str, Any]]:
        """Every channel's payload by id (a snapshot)."""
        return {cid: self.model.channel_payload(cid) for cid in self.model.channels}

    def channel(self, channel_id: int) -> dict[str, Any]:
        return self.model.channel_payload(channel_id)

    def channels_named(self, name: str) -> list[dict[str, Any]]:
        return [p for p in self.channels.values() if p["name"] == name]

    def messages_in(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages in a channel, oldest first, with full content."""
        return copy.deepcopy(self.model.messages.get(channel_id, []))

    def permissions_in(self, channel_id: int, user_id: int) -> int:
        return self.model.permissions_in(channel_id, user_id)

    def can_view(self, channel_id: int, user_id: int) -> bool:
        return bool(self.model.permissions_in(channel_id, user_id) & P.VIEW_CHANNEL)

    def role_can_view(self, channel_id: int, role_id: int) -> bool:
        """Whether a member holding only this role (and @everyone) can view."""
        return bool(self.model.role_permissions_in(channel_id, role_id) & P.VIEW_CHANNEL)

    def viewers(self, channel_id: int, *, include_owner: bool = False) -> set[int]:
        """Member ids that can view the channel.

        The guild owner sees everything, so it is left out unless asked for:
        assertions are about what the overwrites grant.
        """
        return {
            uid
            for uid in self.model.members
            if (include_owner or uid != self.model.owner_id) and self.can_view(channel_id, uid)
        }

    def requests_for(self, method: str, route: str) -> list[RecordedRequest]:
        """Recorded requests by route template, e.g. ("POST", "/channels/{channel_id}/messages")."""
        return [r for r in self.requests if r.method == method.upper() and r.route == route]

    def dispatched_events(self, event: str) -> list[DispatchRecord]:
        return [d for d in self.gateway.dispatched if d.type == event]

    @property
    def gateway_connections(self) -> list[GatewayConnectionRecord]:
        return list(self.gateway.records)

    @property
    def interactions(self) -> dict[int, InteractionHandle]:
        return self.interaction_service.handles

    def assert_no_violations(self) -> None:
        if self.violations:
            lines = "\n  ".join(str(v) for v in self.violations)
            raise AssertionError(
                f"fake Discord saw {len(self.violations)} violation(s):\n  {lines}"
            )

    # -- waiting -------------------------------------------------------------------
    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 15.0,  # noqa: ASYNC109
        *,
        what: str | None = None,
    ) -> T:
        """Wait until `predicate()` is truthy and return its value.

        Re-checked whenever the fake records something, and at least every 50 ms
        (so predicates over the client's own state work too). Times out with
        the recent requests in the message, which is usually the clue.
        """
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                recent = "\n  ".join(
                    f"{r.method} {r.path} -> {r.status}" for r in self.requests[-10:]
                )
                raise TimeoutError(
                    f"fake Discord: {what or getattr(predicate, '__name__', 'condition')} "
                    f"not met within {timeout}s; last requests:\n  {recent}"
                )
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, min(remaining, 0.05))

    async def wait_connected(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        """Until some client has identified (or resumed) and is connected."""
        await self.wait_for(self.gateway.live_sessions, timeout, what="a gateway session")

    # -- fault injection -----------------------------------------------------------
    def fail_next(
        self,
        method: str,
        route: str,
        status: int = 429,
        *,
        count: int = 1,
        code: int | None = None,
        message: str | None = None,
        retry_after: float = 0.2,
        is_global: bool = False,
    ) -> None:
        """Answer the next `count` requests of a route with an error.

        429 comes with `Via`, `Retry-After` and `retry_after` (discord.py retries
        it); 403 defaults to 50013, 400 to 30013, 500 is retried by discord.py.
        """
        method = method.upper()
        if not any(r.method == method and r.template == route for r in ROUTES):
            raise ValueError(f"no modelled route {method} {route}")
        self._faults.append(
            Fault(method, route, status, count, code, message, retry_after, is_global)
        )

    def _take_fault(self, method: str, route: str) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.route == route and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_response(self, fault: Fault) -> web.Response:
        if fault.status == 429:
            body = {
                "message": "You are being rate limited.",
                "retry_after": fault.retry_after,
                "global": fault.is_global,
                "code": 0,
            }
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, math.ceil(fault.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + fault.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
                "X-RateLimit-Bucket": _bucket(fault.route),
                "X-RateLimit-Scope": "global" if fault.is_global else "user",
            }
            if fault.is_global:
                headers["X-RateLimit-Global"] = "true"
            return json_response(body, status=429, headers=headers)
        code, message = _DEFAULT_FAULT.get(fault.status, (0, _REASONS.get(fault.status, "Error")))
        if fault.code is not None:
            code = fault.code
            message = _FAULT_MESSAGES.get(code, message)
        return json_response(
            {"message": fault.message or message, "code": code}, status=fault.status
        )

    # -- injection -------------------------------------------------------------------
    async def inject_message(
        self,
        channel_id: int,
        author: FakeUser | int,
        content: str,
        *,
        embeds: list[dict[str, Any]] | None = None,
        reply_to: int | None = None,
        check_permissions: bool = True,
    ) -> dict[str, Any]:
        """Post a message as `author` (e.g. an agent replying), dispatching MESSAGE_CREATE.

        Refuses (PermissionError) what Discord would refuse: a user who cannot
        view and send in the channel cannot post there.
        """
        uid = author.id if isinstance(author, FakeUser) else int(author)
        if uid not in self.model.members:
            raise ValueError(f"user {uid} is not a member of the fake guild")
        channel = self.model.channels.get(channel_id)
        if channel is None or channel.type not in GUILD_TEXT_LIKE:
            raise ValueError(f"{channel_id} is not a text channel of the fake guild")
        perms = self.model.permissions_in(channel_id, uid)
        if check_permissions and (perms & (P.VIEW_CHANNEL | P.SEND_MESSAGES)) != (
            P.VIEW_CHANNEL | P.SEND_MESSAGES
        ):
            raise PermissionError(
                f"{self.model.users[uid].name} cannot view and send in channel {channel_id}"
            )
        body: dict[str, Any] = {"content": content, "embeds": embeds or []}
        if reply_to is not None:
            body["message_reference"] = {"message_id": reply_to}
        msg = build_message(
            self.model,
            channel_id=channel_id,
            author=self.model.users[uid],
            body=body,
            msg_type=19 if reply_to is not None else 0,
        )
        self._store_message(msg)
        self._dispatch_message("MESSAGE_CREATE", msg)
        await asyncio.sleep(0)
        return copy.deepcopy(msg)

    async def inject_interaction(
        self,
        user: FakeUser | int,
        channel_id: int,
        command: str | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        type: int = APPLICATION_COMMAND,
        focused: str | None = None,
        custom_id: str | None = None,
        component_type: int = 2,
        values: list[str] | None = None,
        message_id: int | None = None,
        check_permissions: bool = True,
        deadline: float | None = None,
    ) -> InteractionHandle:
        """Dispatch INTERACTION_CREATE from a member; returns a handle to await the answer.

        `command` is the registered name, with sub-commands after a space
        ("group sub"; the moderator's `/slot` has none: "slot" with an `action`).
        Options are given by name and checked against the registered command
        (unknown names, missing required options and values outside `choices`
        raise: Discord's client would not send them).
        `deadline` overrides the fake's `interaction_deadline` for this one.
        """
        handle = self.interaction_service.inject(
            user=user,
            channel_id=channel_id,
            kind=type,
            command=command,
            options=options,
            focused=focused,
            custom_id=custom_id,
            component_type=component_type,
            values=values,
            message_id=message_id,
            check_permissions=check_permissions,
            deadline=self.interaction_deadline if deadline is None else deadline,
        )
        await asyncio.sleep(0)
        return handle

    async def inject_command(
        self,
        user: FakeUser | int,
        channel_id: int,
        command: str,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> InteractionHandle:
        return await self.inject_interaction(
            user, channel_id, command, options, type=APPLICATION_COMMAND, **kwargs
        )

    async def inject_autocomplete(
        self,
        user: FakeUser | int,
        channel_id: int,
        command: str,
        options: Mapping[str, Any],
        focused: str,
        **kwargs: Any,
    ) -> InteractionHandle:
        return await self.inject_interaction(
            user, channel_id, command, options, type=AUTOCOMPLETE, focused=focused, **kwargs
        )

    async def inject_component(
        self,
        user: FakeUser | int,
        channel_id: int,
        message_id: int,
        custom_id: str,
        *,
        component_type: int = 2,
        values: list[str] | None = None,
        **kwargs: Any,
    ) -> InteractionHandle:
        return await self.inject_interaction(
            user,
            channel_id,
            type=MESSAGE_COMPONENT,
            message_id=message_id,
            custom_id=custom_id,
            component_type=component_type,
            values=values,
            **kwargs,
        )

    def drop_connections(self, *, hold: bool = False) -> int:
        """Cut every gateway connection like a network outage (clients should RESUME).

        With `hold=True` new connections wait (after the websocket handshake)
        until `release_gateway()`, so a test can act while the client is away.
        """
        return self.gateway.drop_connections(hold=hold)

    def release_gateway(self) -> None:
        self.gateway.release()

    # -- internal: state changes with their gateway events ---------------------------
    def _add_channel(self, channel: FakeChannel, *, ctx: Ctx | None) -> None:
        self.model.channels[channel.id] = channel
        self.model.messages.setdefault(channel.id, [])
        self._note_overwrites(channel, ctx)
        self._dispatch_channel("CHANNEL_CREATE", channel.id)

    def _remove_channel(self, channel_id: int) -> None:
        payload = self.model.channel_payload(channel_id)
        for child in self.model.children_of(channel_id):
            child.parent_id = None
            self._dispatch_channel("CHANNEL_UPDATE", child.id)
        del self.model.channels[channel_id]
        for msg in self.model.messages.pop(channel_id, []):
            self.model.message_index.pop(int(msg["id"]), None)
        self.gateway.dispatch("CHANNEL_DELETE", payload, intent=GUILDS)
        self._changed()

    def _dispatch_channel(self, event: str, channel_id: int) -> None:
        self.gateway.dispatch(event, self.model.channel_payload(channel_id), intent=GUILDS)
        self._changed()

    def _note_overwrites(self, channel: FakeChannel, ctx: Ctx | None) -> None:
        for note in self.model.overwrite_mismatches(channel.overwrites):
            log.warning("fake Discord: channel %s (%s): %s", channel.name, channel.id, note)
            self.overwrite_notes.append(OverwriteNote(time.monotonic(), channel.id, note))

    def _store_message(self, msg: dict[str, Any]) -> None:
        cid = int(msg["channel_id"])
        self.model.messages.setdefault(cid, []).append(msg)
        self.model.message_index[int(msg["id"])] = msg
        channel = self.model.channels.get(cid)
        if channel is not None:
            channel.last_message_id = int(msg["id"])
        self._changed()

    def _dispatch_message(self, event: str, msg: dict[str, Any]) -> None:
        cid = int(msg["channel_id"])
        if cid not in self.model.channels or not self.can_view(cid, self.bot_user.id):
            return  # Discord only tells the bot about channels it can see.

        def view(session: Any) -> dict[str, Any]:
            seen = for_app(
                msg,
                app_user_id=self.bot_user.id,
                has_intent=bool(session.intents & MESSAGE_CONTENT),
            )
            return gateway_form(self.model, seen)

        self.gateway.dispatch(event, view, intent=GUILD_MESSAGES)
        self._changed()

    def _delete_message(self, channel_id: int, message_id: int) -> None:
        msgs = self.model.messages.get(channel_id, [])
        self.model.messages[channel_id] = [m for m in msgs if int(m["id"]) != message_id]
        self.model.message_index.pop(message_id, None)
        if channel_id in self.model.channels and self.can_view(channel_id, self.bot_user.id):
            self.gateway.dispatch(
                "MESSAGE_DELETE",
                {
                    "id": str(message_id),
                    "channel_id": str(channel_id),
                    "guild_id": str(self.guild_id),
                },
                intent=GUILD_MESSAGES,
            )
        self._changed()

    def _dispatch_reaction(self, msg: dict[str, Any], emoji: dict[str, Any], user_id: int) -> None:
        data = {
            "user_id": str(user_id),
            "channel_id": msg["channel_id"],
            "message_id": msg["id"],
            "guild_id": str(self.guild_id),
            "member": self.model.member_payload(user_id),
            "emoji": emoji,
            "message_author_id": msg["author"]["id"],
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        self.gateway.dispatch("MESSAGE_REACTION_ADD", data, intent=GUILD_MESSAGE_REACTIONS)
        self._changed()

    def _deny(self, ctx: Ctx, missing: list[str], where: str) -> None:
        self.denials.append(
            Denial(time.monotonic(), ctx.record.method, ctx.record.route, missing, where)
        )

    def _violate(self, method: str, route: str, path: str, problems: list[str], body: Any) -> None:
        violation = Violation(time.monotonic(), method, route, path, problems, body)
        log.warning("fake Discord violation: %s", violation)
        self.violations.append(violation)
        self._changed()

    # -- payloads for the gateway ------------------------------------------------------
    def _app_flags(self) -> int:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.privileged_intents & GUILD_PRESENCES:
            flags |= 1 << 13
        if self.privileged_intents & GUILD_MEMBERS:
            flags |= 1 << 15
        if self.privileged_intents & MESSAGE_CONTENT:
            flags |= 1 << 19
        return flags

    def _application_payload(self, *, full: bool) -> dict[str, Any]:
        if not full:
            return {"id": str(self.application_id), "flags": self._app_flags()}
        return {
            "id": str(self.application_id),
            "name": self.bot_user.name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self._app_flags(),
            "owner": self.owner.payload(),
            "team": None,
            "bot": self.bot_user.payload(),
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "redirect_uris": [],
            "rpc_origins": [],
            "tags": [],
            "approximate_guild_count": 1,
            "approximate_user_install_count": 0,
            "integration_types_config": {"0": {}},
            "terms_of_service_url": None,
            "privacy_policy_url": None,
            "custom_install_url": None,
            "cover_image": None,
            "is_monetized": False,
        }

    def _ready_payload(self, session: Any, shard: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "v": 10,
            "user": self.bot_user.payload()
            | {"verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_ws_url,
            "application": self._application_payload(full=False),
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake-loopback"],
            "_trace": ['["fake-discord",{"micros":0}]'],
        }
        if shard is not None:
            data["shard"] = shard
        return data

    def _guild_create_payload(self) -> dict[str, Any]:
        model = self.model
        bot_member = model.members[self.bot_user.id]
        return model.guild_payload() | {
            "joined_at": bot_member.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(model.members),
            "voice_states": [],
            # Only the bot's own member: Discord does not send everyone at connect.
            "members": [model.member_payload(self.bot_user.id)],
            "channels": [model.channel_payload(cid, with_guild_id=False) for cid in model.channels],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
        }

    # -- the REST entry point ------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.StreamResponse:
        t = time.monotonic()
        raw_path = request.rel_url.raw_path[len(API_PREFIX) :]
        method = request.method
        route, params, path_known = match_route(method, raw_path)
        template = route.template if route else raw_path
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        record = RecordedRequest(
            t=t,
            method=method,
            route=template,
            path=raw_path,
            query=dict(request.query),
            headers=headers,
            params=params,
        )
        self.requests.append(record)
        try:
            response = await self._serve(request, route, params, record, path_known)
        except ApiError as err:
            if err.violation:
                self._violate(method, template, raw_path, err.violation, record.json)
            response = err.response()
            record.answer = {"code": err.code, "message": err.message}
        except Exception as exc:  # a bug in the fake itself must fail the test too
            log.exception("fake Discord crashed on %s %s", method, raw_path)
            self._violate(
                method, template, raw_path, [f"fake Discord internal error: {exc!r}"], record.json
            )
            # 400, not 500: discord.py would retry a 500 for ~25 s before failing.
            response = json_response(
                {"message": f"fake Discord internal error: {exc!r}", "code": 0}, status=400
            )
        if route is not None and response.status < 400:
            response.headers.update(_ratelimit_headers(route.template))
        record.status = response.status
        self._changed()
        return response

    async def _serve(
        self,
        request: web.Request,
        route: RouteSpec | None,
        params: dict[str, str],
        record: RecordedRequest,
        path_known: bool,
    ) -> web.StreamResponse:
        if route is None:
            if path_known:
                raise ApiError(
                    405,
                    0,
                    "405: Method Not Allowed",
                    violation=["method not allowed on this route"],
                )
            raise ApiError(
                404,
                0,
                "404: Not Found",
                violation=[
                    f"route not modelled by the fake Discord: {request.method} {record.path}"
                ],
            )
        if route.auth:
            auth = request.headers.get("Authorization")
            if auth != f"Bot {self.token}":
                raise ApiError(401, 0, "401: Unauthorized")
        body, files = await self._read_body(request, route, record)
        record.json = body
        record.files = files
        if route.schema is not None:
            problems = schemacheck.check_local(route.schema, body)
            if self.spec is not None and route.spec_path is not None:
                problems += self.spec.check(route.method, route.spec_path, body)
            if problems:
                raise ApiError(
                    400,
                    50035,
                    "Invalid Form Body",
                    errors=schemacheck.errors_tree(problems),
                    violation=[str(p) for p in problems],
                )
        fault = self._take_fault(route.method, route.template)
        if fault is not None:
            return self._fault_response(fault)
        ctx = Ctx(
            request=request,
            route=route,
            params=params,
            query=dict(request.query),
            json=body,
            files=files,
            record=record,
        )
        handler = getattr(self.rest, route.handler)
        response: web.StreamResponse = await handler(ctx)
        return response

    async def _read_body(
        self, request: web.Request, route: RouteSpec, record: RecordedRequest
    ) -> tuple[Any, list[dict[str, Any]]]:
        if route.body is None:
            await request.read()
            return None, []
        ctype = request.content_type
        if ctype == "application/json":
            raw = await request.read()
            if not raw:
                return None, []
            try:
                return json.loads(raw), []
            except ValueError as exc:
                record.json = raw.decode(errors="replace")
                raise ApiError(
                    400,
                    50109,
                    "The request body contains invalid JSON.",
                    violation=[f"invalid JSON: {exc}"],
                ) from exc
        if ctype == "multipart/form-data" and "multipart" in route.body:
            payload: Any = None
            files: list[dict[str, Any]] = []
            reader = await request.multipart()
            async for part in reader:
                if part is None:
                    break
                name = getattr(part, "name", None)
                if name == "payload_json":
                    payload = json.loads(await part.text())  # type: ignore[union-attr]
                elif name and name.startswith("files["):
                    data = await part.read()  # type: ignore[union-attr]
                    files.append(
                        {
                            "field": name,
                            "filename": getattr(part, "filename", None) or "file",
                            "size": len(data),
                            "content_type": part.headers.get("Content-Type"),
                        }
                    )
                else:
                    raise ApiError(
                        400,
                        50035,
                        "Invalid Form Body",
                        violation=[f"unexpected multipart field {name!r}"],
                    )
            return payload, files
        raw = await request.read()
        record.json = raw.decode(errors="replace") if raw else None
        raise ApiError(
            400,
            50035,
            "Invalid Form Body",
            violation=[
                f"Content-Type {request.headers.get('Content-Type')!r} is not accepted here "
                f"(accepted: {_accepted(route)})"
            ],
        )


def _accepted(route: RouteSpec) -> str:
    if route.body and "multipart" in route.body:
        return "application/json or multipart/form-data"
    return "application/json"


def _bucket(route: str) -> str:
    return f"{zlib.crc32(route.encode()):08x}"


def _ratelimit_headers(route: str) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": _bucket(route),
    }
