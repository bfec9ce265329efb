"""`python -m bot check-config`: validate the configuration and say what is enabled.

With Discord configured it also logs in over REST only (no gateway: nothing
is dispatched to the running bot's session, and no intents are needed) and
runs the guild check: the moderator's guild permissions and whether every
agent's account is a member. It also looks (without creating anything) at the
paths of the state and calendar files, or connects to a PostgreSQL calendar.
Exit status (DESIGN §9): 0 all well, 1 the configuration is valid but something
is not set up right (an agent nothing can wake, Discord's permissions; the lines
say what to fix), 2 the configuration itself is bad. The token is never printed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.app.checkconfig_calendar import calendar_problems
from bot.app.errors import ConfigError
from bot.app.file_checks import file_problems
from bot.app.runner import startup_problem
from bot.app.settings import Settings, load_config
from bot.core.agents import AgentConfig
from bot.core.guild_report import GuildReport
from bot.core.shards import owned_agents
from bot.presenters.alerts import headless_note

if TYPE_CHECKING:
    import discord

#: Login and guild check together must finish within this many seconds.
DISCORD_CHECK_TIMEOUT_S = 60.0


def check_config() -> int:
    """Print every setting (secrets masked) and what will run; see the module docstring.

    The verdict is the last line and only one: "OK" (exit 0) or "PROBLEMS FOUND"
    (exit 1 for a Discord set-up to fix, 2 for a configuration to fix).
    """
    try:
        settings, agents = load_config()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("\nPROBLEMS FOUND (the configuration is not valid; see above)")
        return 2
    print("Settings:\n")
    width = max(len(name) for name in settings.masked())
    for name, value in settings.masked().items():
        print(f"  {name:<{width}}  {value}")
    print()
    discord = "enabled" if settings.discord_enabled else "disabled (headless: spawn waking only)"
    spawn_global = settings.spawn_url or settings.spawn_command
    print(f"Discord waking: {discord}")
    print(f"Spawn fallback: {'enabled' if spawn_global else 'per-agent only or disabled'}")
    backend = "embedded" if settings.calendar_opened_here else "remote"
    print(f"Calendar:       {backend} ({settings.masked()['CALENDAR_URL']})")
    print(f"Agents:         {len(agents)} from {settings.agents_file}")
    unwakeable: list[str] = []
    for agent in agents:
        ways = []
        if settings.discord_enabled and agent.discord_user_id:
            ways.append(f"discord <@{agent.discord_user_id}>")
        if agent.spawn_url or settings.spawn_url:
            ways.append("spawn url")
        if agent.spawn_command or settings.spawn_command:
            ways.append("spawn command")
        if not ways:
            unwakeable.append(agent.id)
        print(f"  - {agent.id}: {', '.join(ways) if ways else 'NO WAY TO WAKE'}")
    shard = settings.shard_config
    if shard is not None:
        mine = ", ".join(a.id for a in owned_agents(shard, agents)) or "none of the agents"
        extra = "; also slash commands, buttons and clean-up" if shard.primary else ""
        print(f"Shard {shard}:      handles {mine}{extra}")
    startup = startup_problem(settings, agents)
    problems = [startup] if startup is not None else []
    problems.extend(file_problems(settings))
    if not problems:
        problems.extend(calendar_problems(settings))
    if problems:
        for problem in problems:
            print(f"\nerror: {problem}", file=sys.stderr)
        print("\nPROBLEMS FOUND (the configuration is not valid; see above)")
        return 2
    if unwakeable:
        print(
            f"\nNothing can wake {', '.join(unwakeable)}: give it a discord_user_id "
            "(with DISCORD_TOKEN set) or a spawn_url / spawn_command in AGENTS_FILE."
        )
    code = 1 if unwakeable else 0
    if settings.alert_channel_id is not None and not settings.discord_enabled:
        print(f"\nAlert channel:  {headless_note()}")
    if settings.discord_enabled:
        print()
        code = asyncio.run(_discord_check(settings, agents)) or code
    print("\nThe configuration is valid.\nOK" if code == 0 else "\nPROBLEMS FOUND (see above)")
    return code


async def _discord_check(settings: Settings, agents: Sequence[AgentConfig]) -> int:
    try:
        return await asyncio.wait_for(
            _login_and_check(settings, agents), timeout=DISCORD_CHECK_TIMEOUT_S
        )
    except TimeoutError:
        print(
            f"Discord: no answer within {DISCORD_CHECK_TIMEOUT_S:g} s from "
            f"{settings.discord_api_base}"
        )
        return 1


async def _login_and_check(settings: Settings, agents: Sequence[AgentConfig]) -> int:
    import discord

    from bot.discord_io.endpoints import point_discord_at
    from bot.discord_io.guild_check import check_guild
    from bot.net import TRANSIENT_NETWORK_ERRORS

    assert settings.discord_token is not None and settings.discord_guild_id is not None
    point_discord_at(settings.discord_api_base, settings.discord_gateway_url)
    client = discord.Client(intents=discord.Intents.none())
    try:
        try:
            await client.login(settings.discord_token.get_secret_value())
        except discord.LoginFailure:
            print(
                "Discord: DISCORD_TOKEN was rejected (401). Copy the bot token again from "
                "the developer portal (Bot → Reset Token)."
            )
            return 1
        except discord.HTTPException as exc:
            print(f"Discord: login failed: HTTP {exc.status} {exc.text}".rstrip())
            return 1
        except TRANSIENT_NETWORK_ERRORS as exc:
            print(
                f"Discord: cannot reach {settings.discord_api_base}: {type(exc).__name__}"
                f" {exc}".rstrip()
            )
            return 1
        me = client.user
        print(f"Discord: logged in as {me} ({getattr(me, 'id', '?')})")
        report = await check_guild(client, settings.discord_guild_id, agents, now=datetime.now(UTC))
        alert_channel = await _alert_channel(client, settings)
    finally:
        await client.close()
    if report.error is not None:
        print(f"Guild {report.guild_id}: {report.error}")
        return 1
    code = _guild_verdict(report, agents)
    if isinstance(alert_channel, str):
        print(f"Alert channel:  PROBLEM: {alert_channel}")
        return 1
    if alert_channel is not None:
        print(f"Alert channel:  #{alert_channel.name} ({alert_channel.id}): can post there")
    return code


async def _alert_channel(
    client: discord.Client, settings: Settings
) -> discord.TextChannel | str | None:
    """The alert channel, or what is wrong with it; None when `ALERT_CHANNEL_ID` is unset."""
    from bot.discord_io.alert_channel import resolve_alert_channel

    channel_id, guild_id = settings.alert_channel_id, settings.discord_guild_id
    if channel_id is None or guild_id is None:
        return None
    return await resolve_alert_channel(client, guild_id, channel_id)


def _guild_verdict(report: GuildReport, agents: Sequence[AgentConfig]) -> int:
    """Print the guild report's permissions and memberships; 1 when something is missing."""
    print(f"Guild:          {report.guild_name} ({report.guild_id})")
    if report.missing_permissions:
        print(
            "Permissions:    MISSING "
            + ", ".join(report.missing_permissions)
            + " (grant them to the moderator's role in Server Settings → Roles)"
        )
    else:
        print("Permissions:    all required present")
    absent = {a.agent_id for a in report.non_members}
    unchecked = dict(report.unchecked)
    for agent in agents:
        if agent.discord_user_id is None:
            verdict = "no discord_user_id (spawn only)"
        elif agent.id in absent:
            verdict = "NOT a member of the guild (invite its bot account, or fix discord_user_id)"
        elif agent.id in unchecked:
            verdict = f"could not check: {unchecked[agent.id]}"
        else:
            verdict = "member"
        print(f"  - {agent.id}: {verdict}")
    return 0 if report.ok else 1
