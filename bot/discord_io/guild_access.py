"""The moderator's view of its guild: from the gateway cache when connected, else over REST.

The channel waker must work with only `client.login(token)` (check-config, a
gateway that has not connected yet) as well as with a live gateway: each
lookup here prefers the cache and falls back to a REST call, and a fetched
guild is reused for `guild_refresh_s`. Also what the moderator is missing when
Discord answers Missing Permissions, so a wake error can name it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import discord

from bot.core.agents import AgentConfig
from bot.core.clock import Clock
from bot.discord_io.channel_rules import perm_names
from bot.discord_io.errors import DISCORD_FAILURES, WakeError, http_detail

#: Member look-ups in flight at once: they share one rate-limit bucket, and discord.py
#: sleeps out its whole reset (a second) once the requests in flight use up its tokens;
#: a burst of 100 wakes asking at once stalled each by a second (bench/scale.py).
MEMBER_LOOKUPS = 8
#: The guild permissions a wake needs; the first one only to make channels.
WAKE_PERMISSIONS = ("manage_channels", "view_channel", "send_messages", "read_message_history")


@dataclass(frozen=True, slots=True)
class Listing:
    """The guild's channels as one snapshot: what a placement decision looks at."""

    channels: Sequence[discord.abc.GuildChannel]

    def by_id(self) -> dict[int, discord.abc.GuildChannel]:
        return {ch.id: ch for ch in self.channels}


class GuildAccess:
    """Guild `guild_id` through `client` (logged in; the gateway is optional)."""

    def __init__(
        self, client: discord.Client, guild_id: int, clock: Clock, *, refresh_s: float = 300.0
    ) -> None:
        self.client = client
        self.guild_id = guild_id
        self._clock = clock
        self._refresh = timedelta(seconds=refresh_s)
        self._fetched: discord.Guild | None = None
        self._fetched_at: datetime | None = None
        self._member_lookups = asyncio.Semaphore(MEMBER_LOOKUPS)

    async def guild(self) -> discord.Guild:
        cached = self.client.get_guild(self.guild_id)
        if cached is not None and not cached.unavailable:
            return cached
        now = self._clock.now()
        if (
            self._fetched is None
            or self._fetched_at is None
            or now - self._fetched_at > self._refresh
        ):
            try:
                self._fetched = await self.client.fetch_guild(self.guild_id, with_counts=False)
            except (discord.NotFound, discord.Forbidden):
                raise WakeError(
                    f"the moderator is not a member of guild {self.guild_id} "
                    "(check DISCORD_GUILD_ID and invite the bot)"
                ) from None
            self._fetched_at = now
        return self._fetched

    def membership(self, guild: discord.Guild, agent: AgentConfig) -> MembershipCheck:
        """The agent's membership, asked now (`MEMBER_LOOKUPS` at a time for all wakes)."""
        return MembershipCheck(guild, agent, self._member_lookups)

    def from_cache(self, guild: discord.Guild) -> bool:
        return self.client.get_guild(guild.id) is guild

    async def channel(
        self, channel_id: int
    ) -> discord.abc.GuildChannel | discord.abc.PrivateChannel | discord.Thread:
        """From the gateway cache when it has the channel, else over REST."""
        return self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)

    def me_id(self) -> int:
        user = self.client.user
        if user is None:
            raise WakeError("the Discord client is not logged in")
        return user.id

    async def me_member(self, guild: discord.Guild) -> discord.Member:
        """The moderator as a member of `guild` (fetched when the guild is not the cached one)."""
        member = guild.me if self.from_cache(guild) else None
        return member if member is not None else await guild.fetch_member(self.me_id())

    async def listing(self, guild: discord.Guild) -> Listing:
        if self.from_cache(guild):
            return Listing(list(guild.channels))
        return Listing(list(await guild.fetch_channels()))

    def messageable(self, channel_id: int) -> discord.PartialMessageable:
        """A channel to send to or read from by id, without fetching it first."""
        return self.client.get_partial_messageable(channel_id, guild_id=self.guild_id)

    async def forbidden_text(
        self, guild: discord.Guild, action: str, exc: discord.Forbidden
    ) -> str:
        """Name the guild permissions the moderator lacks, when it can find out."""
        lacking: list[str] = []
        with contextlib.suppress(*DISCORD_FAILURES):
            perms = (await self.me_member(guild)).guild_permissions
            lacking = [name for name in WAKE_PERMISSIONS if not getattr(perms, name)]
        if lacking:
            return (
                f"cannot {action}: the moderator is missing {perm_names(lacking)} "
                f"in guild {guild.id} ({http_detail(exc)})"
            )
        return (
            f"cannot {action}: Discord answered Missing Permissions; the moderator needs "
            f"Manage Channels in guild {guild.id} and must itself hold every permission it "
            f"grants ({perm_names(WAKE_PERMISSIONS[1:])}); check the wake category's "
            f"overwrites too ({http_detail(exc)})"
        )

    async def missing_in_channel(self, channel_id: int) -> str:
        """Which of View Channel / Send Messages the moderator lacks in a channel."""
        with contextlib.suppress(*DISCORD_FAILURES):
            guild = await self.guild()
            channel = await self.client.fetch_channel(channel_id)
            member = await self.me_member(guild)
            if isinstance(channel, discord.abc.GuildChannel):
                perms = channel.permissions_for(member)
                lacking = [n for n in ("view_channel", "send_messages") if not getattr(perms, n)]
                if lacking:
                    return perm_names(lacking)
        return "View Channel or Send Messages"


async def is_member(guild: discord.Guild, user_id: int) -> bool:
    """Asked over REST every time: with no member events (no Server Members intent), a
    cached member may be gone. Discord's other failures propagate."""
    try:
        await guild.fetch_member(user_id)
    except discord.NotFound:
        return False
    return True


class MembershipCheck:
    """Whether an agent is still a member of the guild, asked beside a wake's other calls.

    Discord takes a channel overwrite for anyone, so a wake for an agent that left
    would land where no one it is for can read it, and count as done. Without the
    Server Members intent nothing tells the moderator of a member leaving, so each
    wake asks (`GET /guilds/{id}/members/{user}`), started at once beside the
    ledger and history reads; no channel is made nor message posted before it
    answered.
    """

    def __init__(
        self, guild: discord.Guild, agent: AgentConfig, in_flight: asyncio.Semaphore
    ) -> None:
        if agent.discord_user_id is None:
            raise ValueError(f"agent {agent.id} has no discord_user_id")
        self.agent = agent
        self.user_id: int = agent.discord_user_id
        self._task = asyncio.create_task(
            self._ask(guild, in_flight), name=f"member-check:{agent.id}"
        )

    async def _ask(self, guild: discord.Guild, in_flight: asyncio.Semaphore) -> bool:
        async with in_flight:
            return await is_member(guild, self.user_id)

    async def require(self) -> None:
        """`WakeError` unless the agent is a member; Discord's own failures propagate."""
        if not await asyncio.shield(self._task):
            raise WakeError(
                f"agent {self.agent.id} (Discord user {self.user_id}) is not a member of "
                "the guild: invite it back, or its slots wait"
            )

    def close(self) -> None:
        """The wake is over: the look-up is dropped, its failure counted as seen."""
        if not self._task.done():
            self._task.cancel()
        elif not self._task.cancelled():
            self._task.exception()
