"""The moderator as a discord.py bot: `ModeratorBot`, what the cogs hang on.

Everything the cogs need is built in `__init__`, before any network: the waker
chain (private channel through this very client, then the spawn fallbacks) and
the `Moderator`. So a cog can rely on `bot.moderator`, `bot.state`,
`bot.calendar`, `bot.waker`, `bot.clock`, `bot.settings`, `bot.agents` and
`bot.guild_id` from `cog_load` on.

Start-up order and why (`setup_hook` runs after login, before the gateway):

1. the cog extensions load (`cogs.EXTENSIONS`; the slash-commands one may fail
   without stopping the bot: a bot without slash commands must still wake
   agents);
2. the command tree is copied to the guild and synced there, bounded in time
   and logged on failure, for the same reason;
3. `Moderator.start()` (recovery, first sync, timers) runs as a *background*
   task, so neither a slow calendar delays the gateway nor a missing gateway
   delays the calendar. Nothing in it waits for READY: the channel waker uses
   the guild from the gateway cache once it is there and fetches it over REST
   until then. `moderator_started` is set when it is done (or has failed and
   been logged: the loops then still sync and check).

`close()` shuts down in the order that loses nothing: the cogs' loops stop,
the moderator lets an in-flight wake finish (it still needs Discord's HTTP),
the webhook session closes, then discord.py's HTTP and gateway, and last the
calendar and state this bot opened itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.app.settings import Settings
from bot.app.wiring import (
    build_moderator,
    build_waker_chain,
    close_waker_chain,
    open_calendar,
    unwakeable_agents,
)
from bot.core.agents import AgentConfig
from bot.core.calendar import Calendar
from bot.core.clock import Clock, SystemClock
from bot.core.state import StateStore
from bot.discord_io.channel_waker import http_detail
from bot.discord_io.endpoints import point_discord_at
from bot.wakers.chain import WakerChain
from cogs import ESSENTIAL_EXTENSIONS, EXTENSIONS

log = logging.getLogger(__name__)

#: The slash commands are synced within this many seconds or the bot goes on without them.
TREE_SYNC_TIMEOUT_S = 30.0
#: An in-flight wake may take this long to finish at shutdown (the rest of 5 s is teardown).
SHUTDOWN_GRACE_S = 2.0
DISCORD_WEB = "https://discord.com"


def moderator_intents() -> discord.Intents:
    """Only what the moderator needs: its guild, messages there, and their content.

    Message Content is privileged (enable it in the developer portal); without
    it agents' replies arrive blank unless they mention the moderator.
    """
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = True
    return intents


ShutdownHook = Callable[[], Awaitable[None]]


class ModeratorBot(commands.Bot):
    """The running moderator; see the module docstring for the start-up and shutdown order."""

    def __init__(
        self,
        settings: Settings,
        agents: Sequence[AgentConfig],
        *,
        calendar: Calendar,
        state: StateStore,
        clock: Clock | None = None,
        calendar_url: str | None = None,
        extensions: Sequence[str] = EXTENSIONS,
        owns_resources: bool = False,
        precise_timer: bool = True,
        **options: Any,
    ) -> None:
        if settings.discord_guild_id is None:
            raise ValueError("ModeratorBot needs DISCORD_GUILD_ID")
        # Before anything can touch discord.py's HTTP or gateway.
        point_discord_at(settings.discord_api_base, settings.discord_gateway_url)
        options.setdefault("help_command", None)
        # The moderator never joins voice: discord.py's warnings about voice libraries
        # would only make operators look for a problem that is not there.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned, intents=moderator_intents(), **options
        )
        self.settings = settings
        self.agents: list[AgentConfig] = list(agents)
        self.guild_id: int = settings.discord_guild_id
        self.calendar = calendar
        self.state = state
        self.clock: Clock = clock or SystemClock()
        self.calendar_url = calendar_url
        self.waker: WakerChain = build_waker_chain(
            settings,
            self.agents,
            discord_client=self,
            ledger=state,
            calendar_url=calendar_url,
            clock=self.clock,
        )
        # precise_timer=False only for bench/wake_latency.py: the seed's check loop alone.
        self.moderator = build_moderator(
            settings,
            self.agents,
            calendar,
            state,
            self.waker,
            self.clock,
            precise_timer=precise_timer,
        )
        #: Set once `Moderator.start()` has finished (or failed, logged): the loops may run.
        self.moderator_started = asyncio.Event()
        #: The extensions that loaded; a missing "cogs.commands" is logged, not fatal.
        self.loaded_extensions: list[str] = []
        self.commands_synced = False
        self._extensions = tuple(extensions)
        self._owns_resources = owns_resources
        self._start_task: asyncio.Task[None] | None = None
        self._shutdown_hooks: list[ShutdownHook] = []
        self._shut_down = False

    @classmethod
    async def open(
        cls,
        settings: Settings,
        agents: Sequence[AgentConfig],
        *,
        clock: Clock | None = None,
        calendar_url: str | None = None,
        **options: Any,
    ) -> ModeratorBot:
        """Open the calendar and state from the settings; the bot closes them in `close()`."""
        clock = clock or SystemClock()
        calendar = await open_calendar(settings, clock=clock)
        try:
            state = await StateStore.open(settings.state_path, clock=clock)
        except BaseException:
            await calendar.close()
            raise
        return cls(
            settings,
            agents,
            calendar=calendar,
            state=state,
            clock=clock,
            calendar_url=calendar_url,
            owns_resources=True,
            **options,
        )

    # ---- what cogs use ------------------------------------------------------

    def is_admin(self, member: discord.Member | discord.User) -> bool:
        """May use `/slot` and `/sync`: holds `ADMIN_ROLE_ID`, Manage Server or Administrator."""
        if not isinstance(member, discord.Member):
            return False
        role_id = self.settings.admin_role_id
        if role_id is not None and any(role.id == role_id for role in member.roles):
            return True
        perms = member.guild_permissions
        return perms.manage_guild or perms.administrator

    def channel_link_url(self, channel_id: int) -> str:
        """A link people can click to open a wake channel."""
        return f"{DISCORD_WEB}/channels/{self.guild_id}/{channel_id}"

    def add_shutdown_hook(self, hook: ShutdownHook) -> None:
        """Run `hook` first in `close()` (cogs stop their loops there); exceptions are logged."""
        self._shutdown_hooks.append(hook)

    # ---- start-up -----------------------------------------------------------

    async def setup_hook(self) -> None:
        for name in unwakeable_agents(self.waker, self.agents):
            log.warning(
                "agent %s has no discord_user_id and no spawn fallback: it cannot be woken", name
            )
        await self._load_extensions()
        await self._sync_commands()
        self._start_task = asyncio.create_task(self._start_moderator(), name="moderator-start")

    async def _load_extensions(self) -> None:
        for name in self._extensions:
            essential = name in ESSENTIAL_EXTENSIONS
            if not essential and importlib.util.find_spec(name) is None:
                log.warning("extension %s is not installed; running without it", name)
                continue
            try:
                await self.load_extension(name)
            except commands.ExtensionError:
                if essential:
                    raise
                log.exception("extension %s failed to load; running without it", name)
                continue
            self.loaded_extensions.append(name)
        log.info("loaded extensions: %s", ", ".join(self.loaded_extensions) or "none")

    async def _sync_commands(self) -> None:
        """Slash commands go to the one guild (instant there, unlike global commands)."""
        guild = discord.Object(id=self.guild_id)
        self.tree.copy_global_to(guild=guild)
        try:
            async with asyncio.timeout(TREE_SYNC_TIMEOUT_S):
                synced = await self.tree.sync(guild=guild)
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.error(
                "could not register the slash commands in guild %s (%s); the moderator "
                "still wakes agents and reads their replies",
                self.guild_id,
                _describe(exc),
            )
            return
        self.commands_synced = True
        log.info(
            "slash commands registered in guild %s: %s",
            self.guild_id,
            ", ".join(sorted(c.name for c in synced)) or "none",
        )

    async def _start_moderator(self) -> None:
        try:
            await self.moderator.start()
        except Exception:
            log.exception(
                "the moderator's start-up failed; the sync and check loops still run and retry"
            )
        finally:
            self.moderator_started.set()

    async def on_ready(self) -> None:
        guild = self.get_guild(self.guild_id)
        me = self.user
        if guild is None:
            log.error(
                "connected as %s, but the bot is not in guild %s (DISCORD_GUILD_ID): "
                "invite it there; wake channels cannot be made until then",
                me,
                self.guild_id,
            )
            return
        log.info(
            "connected to Discord as %s (%s) in guild %r", me, getattr(me, "id", "?"), guild.name
        )

    # ---- shutdown -----------------------------------------------------------

    async def close(self) -> None:
        if not self._shut_down:
            self._shut_down = True
            await self._shutdown_core()
        await super().close()
        if self._owns_resources:
            await self._close_resources()

    async def _shutdown_core(self) -> None:
        for hook in reversed(self._shutdown_hooks):
            try:
                await hook()
            except Exception:
                log.exception("a shutdown hook failed")
        start = self._start_task
        if start is not None and not start.done():
            # The start-up may be waking a slot (recovery): it gets the same grace.
            await asyncio.wait({start}, timeout=SHUTDOWN_GRACE_S)
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await start
        try:
            await self.moderator.stop(grace_s=SHUTDOWN_GRACE_S)
        except Exception:
            log.exception("stopping the moderator failed")
        try:
            await close_waker_chain(self.waker)
        except Exception:
            log.exception("closing the wakers failed")

    async def _close_resources(self) -> None:
        for name, closer in (("state", self.state.close), ("calendar", self.calendar.close)):
            try:
                await closer()
            except Exception:
                log.exception("closing the %s failed", name)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        return http_detail(exc)
    if isinstance(exc, TimeoutError):
        return f"no answer within {TREE_SYNC_TIMEOUT_S:g} s"
    return f"{type(exc).__name__}: {exc}"
