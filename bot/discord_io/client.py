"""The moderator as a discord.py bot: `ModeratorBot`, what the cogs hang on.

The app (`bot.app.discord_bot`) builds it: it hands over the options it needs
(`BotOptions`, from the settings), the calendar and state it opened, the
extensions to load, and a `wire` function that builds the waker chain and the
`Moderator` around this very client (the private-channel waker posts through
it). So everything a cog uses exists from `cog_load` on: `bot.moderator`,
`bot.state`, `bot.calendar`, `bot.waker`, `bot.channel_waker`, `bot.clock`,
`bot.options`, `bot.agents` and `bot.guild_id`; and nothing here knows the
settings or the list of cogs.

Start-up order and why (`setup_hook` runs after login, before the gateway):

1. the extensions load (an essential one must; any other may fail without
   stopping the bot: a bot without slash commands must still wake agents);
2. the command tree is copied to the guild and synced there, bounded in time
   and logged on failure, for the same reason;
3. `Moderator.start()` (the ledger, first sync, timers) runs as a *background*
   task, so neither a slow calendar delays the gateway nor a missing gateway
   delays the calendar. Nothing in it waits for READY: the channel waker uses
   the guild from the gateway cache once it is there and fetches it over REST
   until then. `moderator_started` is set when it is done (or has failed and
   been logged: the loops then still sync and check).

`close()` shuts down in the order that loses nothing: the cogs' loops stop,
the moderator lets an in-flight wake finish (it still needs Discord's HTTP),
all within one `IN_FLIGHT_GRACE_S` window; the wakers' sessions close, then
discord.py's HTTP and gateway, and last whatever the app handed over to close
(the calendar and state when the bot opened them itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import discord
from discord import app_commands
from discord.ext import commands

from bot.calendar.ics.links import FeedLinks
from bot.core.agents import AgentConfig
from bot.core.calendar import Calendar
from bot.core.clock import Clock
from bot.core.moderator import Moderator
from bot.core.shards import Shard, is_primary
from bot.core.tasks import IN_FLIGHT_GRACE_S
from bot.core.waker import ChannelLedger
from bot.discord_io.channel_waker import PrivateChannelWaker
from bot.discord_io.endpoints import point_discord_at
from bot.discord_io.errors import DISCORD_FAILURES, http_detail
from bot.discord_io.wake_pauses import release_start_up_heap, settle_start_up_heap
from bot.wakers.chain import WakerChain

log = logging.getLogger(__name__)

#: The slash commands are synced within this many seconds or the bot goes on without them.
TREE_SYNC_TIMEOUT_S = 30.0
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
#: Something to close at the very end of `close()`, named for the log.
Closer = tuple[str, Callable[[], Awaitable[None]]]


@dataclass(frozen=True, slots=True)
class BotOptions:
    """What the bot and its cogs need from the configuration; the app makes it from Settings."""

    guild_id: int
    tz: ZoneInfo
    api_base: str
    gateway_url: str
    admin_role_id: int | None
    wake_category: str
    channel_retention_s: float
    sync_interval_s: float
    check_interval_s: float
    #: `SHARD=i/n` (None: this moderator handles every agent and every interaction).
    shard: Shard | None = None
    #: Where agents' ICS feeds are served, for `/schedule feed:true` (None: not served).
    feed_links: FeedLinks | None = None


@dataclass(frozen=True, slots=True)
class BotParts:
    """What the app builds around the bot's own client (the channel waker posts through it)."""

    waker: WakerChain
    moderator: Moderator
    #: The chain's Discord waker (for the janitor), if it has one.
    channel_waker: PrivateChannelWaker | None
    #: Releases what the wakers hold (the webhook's HTTP session); the client stays.
    release: Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Extensions:
    """The cog extensions to load, in order; an essential one must load or the bot stops."""

    names: Sequence[str]
    essential: Collection[str]


class ShardTree(app_commands.CommandTree):
    """Every gateway session of one token receives every interaction: only shard 0 answers.

    The check runs before a command or an autocomplete is looked up, so another
    shard stays silent (no answer, no error) and shard 0's answer is the only one.
    """

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        client = self.client
        return not isinstance(client, ModeratorBot) or client.answers_interactions


class ModeratorBot(commands.Bot):
    """The running moderator; see the module docstring for the start-up and shutdown order."""

    def __init__(
        self,
        options: BotOptions,
        agents: Sequence[AgentConfig],
        *,
        calendar: Calendar,
        state: ChannelLedger,
        clock: Clock,
        wire: Callable[[discord.Client], BotParts],
        extensions: Extensions,
        closers: Sequence[Closer] = (),
        **client_options: Any,
    ) -> None:
        # Before anything can touch discord.py's HTTP or gateway.
        point_discord_at(options.api_base, options.gateway_url)
        client_options.setdefault("help_command", None)
        # The moderator never joins voice: discord.py's warnings about voice libraries
        # would only make operators look for a problem that is not there.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=moderator_intents(),
            tree_cls=ShardTree,
            **client_options,
        )
        self.options = options
        #: Shard 0 (or unsharded): registers and answers slash commands and buttons.
        self.answers_interactions = is_primary(options.shard)
        self.agents: list[AgentConfig] = list(agents)
        self.guild_id: int = options.guild_id
        self.calendar = calendar
        #: The channel ledger (the state store): which channel and message belong to a slot.
        self.state = state
        self.clock: Clock = clock
        parts = wire(self)
        self.waker: WakerChain = parts.waker
        self.channel_waker = parts.channel_waker
        self.moderator = parts.moderator
        #: Set once `Moderator.start()` has finished (or failed, logged): the loops may run.
        self.moderator_started = asyncio.Event()
        #: The extensions that loaded; a missing optional one is logged, not fatal.
        self.loaded_extensions: list[str] = []
        self.commands_synced = False
        self._extensions = extensions
        self._release_wakers = parts.release
        self._closers = tuple(closers)
        self._start_task: asyncio.Task[None] | None = None
        self._shutdown_hooks: list[ShutdownHook] = []
        self._shut_down = False

    # ---- what cogs use ------------------------------------------------------

    def is_admin(self, member: discord.Member | discord.User) -> bool:
        """May use `/slot` and `/sync`: holds `ADMIN_ROLE_ID`, Manage Server or Administrator."""
        if not isinstance(member, discord.Member):
            return False
        role_id = self.options.admin_role_id
        if role_id is not None and any(role.id == role_id for role in member.roles):
            return True
        perms = member.guild_permissions
        return perms.manage_guild or perms.administrator

    def handles_agent(self, agent_id: str) -> bool:
        """This moderator's shard handles the agent (its wakes and its replies)."""
        shard = self.options.shard
        return shard is None or shard.owns(agent_id)

    def channel_link_url(self, channel_id: int) -> str:
        """A link people can click to open a wake channel."""
        return f"{DISCORD_WEB}/channels/{self.guild_id}/{channel_id}"

    def add_shutdown_hook(self, hook: ShutdownHook) -> None:
        """Run `hook` first in `close()` (cogs stop their loops there); exceptions are logged."""
        self._shutdown_hooks.append(hook)

    # ---- start-up -----------------------------------------------------------

    async def setup_hook(self) -> None:
        await self._load_extensions()
        if self.answers_interactions:
            await self._sync_commands()
        else:
            log.info(
                "shard %s: slash commands and buttons are shard 0's; not registering them",
                self.options.shard,
            )
        self._start_task = asyncio.create_task(self._start_moderator(), name="moderator-start")

    async def _load_extensions(self) -> None:
        for name in self._extensions.names:
            essential = name in self._extensions.essential
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
        except DISCORD_FAILURES as exc:
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
        else:
            settle_start_up_heap()  # no full GC passes over it while waking
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
        release_start_up_heap()
        for name, closer in self._closers:
            try:
                await closer()
            except Exception:
                log.exception("closing the %s failed", name)

    async def _shutdown_core(self) -> None:
        """Loops, start-up and in-flight wake share one `IN_FLIGHT_GRACE_S` window."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + IN_FLIGHT_GRACE_S
        for hook in reversed(self._shutdown_hooks):
            try:
                await hook()
            except Exception:
                log.exception("a shutdown hook failed")
        start = self._start_task
        if start is not None and not start.done():
            # The start-up may be writing its first sync: it gets what is left of the window.
            await asyncio.wait({start}, timeout=max(0.0, deadline - loop.time()))
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await start
        try:
            await self.moderator.stop(grace_s=max(0.0, deadline - loop.time()))
        except Exception:
            log.exception("stopping the moderator failed")
        try:
            await self._release_wakers()
        except Exception:
            log.exception("closing the wakers failed")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        return http_detail(exc)
    if isinstance(exc, TimeoutError):
        return f"no answer within {TREE_SYNC_TIMEOUT_S:g} s"
    return f"{type(exc).__name__}: {exc}"
