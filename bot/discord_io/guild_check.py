"""Is the guild set up for waking? The moderator's permissions, and the agents' membership.

A missing permission or an agent that left the guild shows up only when a
wake fails, minutes or hours later; this check says it up front, in
`check-config` (over REST, no gateway) and in `/status` (the permissions
cached; the membership of the agents `/status` is about asked again each
time, a call each). Membership is asked per agent over REST because Discord
sends no member list at connect and no member events (no Server Members intent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import discord

from bot.core.agents import AgentConfig
from bot.core.clock import Clock, SystemClock
from bot.core.fanout import fan_out
from bot.core.guild_report import AgentNotInGuild, GuildReport
from bot.discord_io.guild_access import MEMBER_LOOKUPS, is_member
from bot.net import TRANSIENT_NETWORK_ERRORS

log = logging.getLogger(__name__)

#: (discord.Permissions attribute, the name Discord's UI shows): what waking needs.
REQUIRED_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("view_channel", "View Channels"),
    ("manage_channels", "Manage Channels"),
    ("send_messages", "Send Messages"),
    ("read_message_history", "Read Message History"),
    ("embed_links", "Embed Links"),
)


def missing_permissions(permissions: discord.Permissions) -> list[str]:
    """The required permissions `permissions` lacks, by their Discord UI names."""
    if permissions.administrator:
        return []
    return [label for attr, label in REQUIRED_PERMISSIONS if not getattr(permissions, attr)]


def _http_text(exc: discord.HTTPException) -> str:
    text = exc.text or exc.__class__.__name__
    return f"{exc.status} {text}".strip()


async def guild_and_me(
    client: discord.Client, guild_id: int
) -> tuple[discord.Guild, discord.Member] | str:
    """The guild and the moderator's member in it, from the gateway cache or over REST;
    a string says why not (for a report: never raises for Discord trouble)."""
    me_user = client.user
    if me_user is None:
        return "the Discord client is not logged in"
    try:
        guild = client.get_guild(guild_id)
        if guild is None or guild.unavailable:
            guild = await client.fetch_guild(guild_id, with_counts=False)
        me = guild.me if guild.me is not None else await guild.fetch_member(me_user.id)
    except (discord.NotFound, discord.Forbidden):
        return (
            f"the moderator is not a member of guild {guild_id} "
            "(check DISCORD_GUILD_ID, and invite the bot with the OAuth2 URL)"
        )
    except discord.HTTPException as exc:
        return f"Discord refused the guild look-up: {_http_text(exc)}"
    except TRANSIENT_NETWORK_ERRORS as exc:
        return f"cannot reach Discord: {type(exc).__name__}"
    return guild, me


async def _membership(
    guild: discord.Guild, agent: AgentConfig
) -> tuple[AgentConfig, bool | None, str | None]:
    """`is_member`, with Discord's failures kept as the reason it could not be asked."""
    assert agent.discord_user_id is not None
    try:
        return agent, await is_member(guild, agent.discord_user_id), None
    except discord.HTTPException as exc:
        return agent, None, f"Discord answered {_http_text(exc)}"
    except TRANSIENT_NETWORK_ERRORS as exc:
        return agent, None, f"cannot reach Discord ({type(exc).__name__})"


async def members_of(
    guild: discord.Guild, agents: Sequence[AgentConfig]
) -> tuple[tuple[AgentNotInGuild, ...], tuple[tuple[str, str], ...]]:
    """Of the agents with a Discord account: those not in `guild`, and those whose
    membership could not be asked (with why)."""
    with_accounts = [a for a in agents if a.discord_user_id is not None]
    results = await fan_out(with_accounts, lambda a: _membership(guild, a), MEMBER_LOOKUPS)
    non_members = tuple(
        AgentNotInGuild(agent.id, agent.discord_user_id)
        for agent, member, _ in results
        if member is False and agent.discord_user_id is not None
    )
    unchecked = tuple((agent.id, why) for agent, member, why in results if member is None and why)
    return non_members, unchecked


async def check_guild(
    client: discord.Client,
    guild_id: int,
    agents: Sequence[AgentConfig],
    *,
    now: datetime,
) -> GuildReport:
    """Check the moderator's guild permissions and which agents are members. Never raises
    for Discord trouble: the report's `error` says what went wrong.

    `client` must be logged in (`await client.login(token)` is enough).
    """
    without = tuple(a.id for a in agents if a.discord_user_id is None)
    base = GuildReport(guild_id=guild_id, checked_at=now, without_discord=without)
    found = await guild_and_me(client, guild_id)
    if isinstance(found, str):
        return replace(base, error=found)
    guild, me = found
    missing = tuple(missing_permissions(me.guild_permissions))

    non_members, unchecked = await members_of(guild, agents)
    return GuildReport(
        guild_id=guild_id,
        checked_at=now,
        guild_name=guild.name,
        missing_permissions=missing,
        non_members=non_members,
        without_discord=without,
        unchecked=unchecked,
    )


class GuildChecker:
    """The guild check, cached for `/status`: fresh for `max_age_s`, one refresh at a time.

    Role and guild changes seen on the gateway call `invalidate()`, so a fixed
    permission shows at the next `/status` without waiting for the cache to age.
    """

    def __init__(
        self,
        client: discord.Client,
        guild_id: int,
        agents: Sequence[AgentConfig],
        *,
        clock: Clock | None = None,
        max_age_s: float = 600.0,
    ) -> None:
        self._client = client
        self._guild_id = guild_id
        self._agents = list(agents)
        self._clock = clock or SystemClock()
        self._max_age = timedelta(seconds=max_age_s)
        self._report: GuildReport | None = None
        self._stale = True
        self._running: asyncio.Task[GuildReport] | None = None

    @property
    def report(self) -> GuildReport | None:
        """The last report, fresh or not (None before the first check finished)."""
        return self._report

    @property
    def fresh(self) -> bool:
        report = self._report
        return (
            report is not None
            and not self._stale
            and self._clock.now() - report.checked_at <= self._max_age
        )

    def invalidate(self) -> None:
        self._stale = True

    async def refresh(self) -> GuildReport:
        """Run the check now (joining one already under way). Never raises for Discord trouble."""
        task = self._running
        if task is None or task.done():
            self._stale = False
            task = asyncio.create_task(self._check(), name="guild-check")
            self._running = task
        return await asyncio.shield(task)

    async def current(self) -> GuildReport:
        """The cached report when fresh, else a new one."""
        if self.fresh and self._report is not None:
            return self._report
        return await self.refresh()

    async def recheck(self, agent_ids: Collection[str]) -> GuildReport | None:
        """The last report with these agents' membership asked again (a call each).

        Without member events nothing tells the moderator that an agent left or
        joined, so `/status` asks for the agents it is about before it answers.
        """
        report = self._report
        agents = [a for a in self._agents if a.id in agent_ids]
        if report is None or report.error is not None or not agents:
            return report
        found = await guild_and_me(self._client, self._guild_id)
        if isinstance(found, str):
            return report
        non_members, unchecked = await members_of(found[0], agents)
        asked = {a.id for a in agents}
        # Into the report as it is now: another recheck or a full check may have landed
        # while this one asked Discord, and its answers stand.
        report = self._report
        if report is None or report.error is not None:
            return report
        report = replace(
            report,
            non_members=self._in_order(
                [n for n in report.non_members if n.agent_id not in asked] + list(non_members)
            ),
            unchecked=tuple(u for u in report.unchecked if u[0] not in asked) + unchecked,
        )
        self._report = report
        return report

    def _in_order(self, non_members: list[AgentNotInGuild]) -> tuple[AgentNotInGuild, ...]:
        order = {a.id: i for i, a in enumerate(self._agents)}
        return tuple(sorted(non_members, key=lambda n: order.get(n.agent_id, len(order))))

    async def close(self) -> None:
        task, self._running = self._running, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _check(self) -> GuildReport:
        try:
            report = await check_guild(
                self._client, self._guild_id, self._agents, now=self._clock.now()
            )
        except Exception as exc:  # a check must never take /status down with it
            log.exception("guild check crashed")
            report = GuildReport(
                guild_id=self._guild_id,
                checked_at=self._clock.now(),
                error=f"unexpected {type(exc).__name__} (logged)",
            )
        if not report.ok:
            log.warning(
                "guild %s set-up problems: %s", self._guild_id, "; ".join(report.problems())
            )
        self._report = report
        return report
