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
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from testkit.fakediscord import schemacheck
from testkit.fakediscord.context import RecordedRequest
from testkit.fakediscord.guild_rules import GuildRules
from testkit.fakediscord.inject import Injection
from testkit.fakediscord.interactions import (
    InteractionHandle,
    InteractionService,
)
from testkit.fakediscord.model import (
    CATEGORY,
    GUILD_TEXT_LIKE,
    TEXT,
    FakeChannel,
    FakeMember,
    FakeRole,
    FakeUser,
    GuildModel,
    Snowflakes,
    normalize_text_channel_name,
)
from testkit.fakediscord.perms import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Overwrite,
    P,
)
from testkit.fakediscord.wire.gateway import DispatchRecord, Gateway, GatewayConnectionRecord
from testkit.fakediscord.wire.http import API_PREFIX, Fault, RestFront
from testkit.fakediscord.wire.intents import (
    GUILD_MEMBERS,
    GUILDS,
)
from testkit.fakediscord.wire.rest import RestHandlers
from testkit.fakediscord.wire.routes import ROUTES
from testkit.fakediscord.world import Denial, OverwriteNote, Violation

log = logging.getLogger(__name__)

#: Where the gateway listens: the URL a client starts with, and READY's resume URL.
GATEWAY_PATH = "/gateway"
RESUME_GATEWAY_PATH = "/resume-gateway"


class FakeDiscord(Injection):
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
        spec_path: str | Path | bool | None = True,
        **rules: Any,
    ) -> None:
        """`rules`: any field of `GuildRules` (intents, deadlines, caps)."""
        self.ids = Snowflakes()
        gid = guild_id if guild_id is not None else self.ids.next()
        self.model = GuildModel(guild_id=gid, name=guild_name, snowflakes=self.ids)
        self.token = token
        self.rules = GuildRules(**rules)

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
        self.front = RestFront(self)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> FakeDiscord:
        app = web.Application()
        for path in (GATEWAY_PATH, RESUME_GATEWAY_PATH):
            app.router.add_get(path, self.gateway.handle)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self.front.handle)
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
    def rest(self) -> RestHandlers:
        """The REST handlers (a test may wrap one to act at that moment of a request)."""
        return self.front.rest

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started (await fake.start())")
        return self._port

    def _url(self, scheme: str, path: str = "") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    @property
    def http_url(self) -> str:
        return self._url("http")

    @property
    def api_base(self) -> str:
        """What `discord.http.Route.BASE` (DISCORD_API_BASE) must be set to."""
        return self._url("http", API_PREFIX)

    @property
    def ws_url(self) -> str:
        """What `DiscordWebSocket.DEFAULT_GATEWAY` (DISCORD_GATEWAY_URL) must be set to."""
        return self._url("ws", GATEWAY_PATH)

    @property
    def resume_ws_url(self) -> str:
        """READY's `resume_gateway_url` (a different path, so tests can see it used)."""
        return self._url("ws", RESUME_GATEWAY_PATH)

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
            self._changed()

    def remove_member(self, user: FakeUser | int) -> None:
        """`user` leaves the guild, or is kicked: Discord tells both apart to nobody.

        GUILD_MEMBER_REMOVE goes only to sessions with the Server Members intent.
        Channel overwrites naming the user stay, as Discord keeps them (they apply
        again if the user comes back); the user's roles are gone.
        """
        uid = user.id if isinstance(user, FakeUser) else int(user)
        if uid not in self.model.members:
            raise ValueError(f"user {uid} is not a member of the fake guild")
        if uid in (self.bot_user.id, self.model.owner_id):
            raise ValueError("the moderator and the guild owner stay in the fake guild")
        del self.model.members[uid]
        data = {"guild_id": str(self.guild_id), "user": self.model.users[uid].payload()}
        self.gateway.dispatch("GUILD_MEMBER_REMOVE", data, intent=GUILD_MEMBERS)
        self._changed()

    def join(self, user: FakeUser | int) -> None:
        """An existing user (one that left, or an agent made with `member=False`) joins
        the guild, with no roles; GUILD_MEMBER_ADD as for any new member."""
        uid = user.id if isinstance(user, FakeUser) else int(user)
        if uid in self.model.members:
            raise ValueError(f"user {uid} is already a member of the fake guild")
        self.model.members[uid] = FakeMember(user=self.model.users[uid], roles=[])
        self._member_added(uid)

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

    def threads_in(self, parent_id: int) -> list[dict[str, Any]]:
        """The payloads of the threads started in a channel (`inject_thread`), oldest first."""
        return [
            self.model.channel_payload(tid)
            for tid, thread in self.model.threads.items()
            if thread.parent_id == parent_id
        ]

    def messages_in(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages in a channel, oldest first, with full content."""
        return copy.deepcopy(self.model.messages.get(channel_id, []))

    def permissions_in(self, channel_id: int, user_id: int) -> int:
        return self.model.permissions_in(channel_id, user_id)

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
        self.front.faults.append(
            Fault(method, route, status, count, code, message, retry_after, is_global)
        )
