"""Wiring: the calendar, the waker chain and the moderator, built from the settings.

One place decides which backend `CALENDAR_URL` names and which wakers the
settings configure, so the bot, headless mode and `check-config` build the
same things the same way.

Waker order: the private Discord channel when a logged-in client is given (agents
without a `discord_user_id` skip it), then the spawn webhook, then the spawn
command. A spawn waker is in the chain when the global setting or any agent's
own override configures it; `can_wake` then decides per agent.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.app.settings import Settings
from bot.calendar.client import HttpCalendar, RequestObserver
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.calendar import Calendar, ChangeSource
from bot.core.clock import Clock
from bot.core.moderator import Moderator
from bot.core.shards import is_primary, owned_agents
from bot.core.state import StateStore
from bot.core.waker import ChannelLedger, Waker
from bot.discord_io.channel_waker import PrivateChannelWaker
from bot.wakers.chain import WakerChain
from bot.wakers.spawn_command import SpawnCommandWaker
from bot.wakers.spawn_env import SpawnEnvironment, parse_spawn_env
from bot.wakers.spawn_url import SpawnUrlWaker

#: One waker's attempt may not take longer than this (real seconds): Discord's
#: own 429 waits and the webhook's retries fit well inside it.
DEFAULT_WAKE_TIMEOUT_S = 120.0


class NoWakerConfigured(ValueError):
    """Neither Discord nor any spawn fallback is configured: nothing could wake an agent."""


def build_waker_chain(
    settings: Settings,
    agents: Sequence[AgentConfig],
    *,
    discord_client: discord.Client | None = None,
    ledger: ChannelLedger | None = None,
    calendar_url: str | None = None,
    clock: Clock | None = None,
    timeout_s: float | None = DEFAULT_WAKE_TIMEOUT_S,
) -> WakerChain:
    """The chain for these settings; `NoWakerConfigured` (a clear message) when empty.

    `discord_client` must be logged in (REST is enough; with the gateway the
    guild comes from the cache) and needs `ledger` (the state store) and
    `settings.discord_guild_id`. `calendar_url` is where spawned agents report
    back (the served calendar), sent in the webhook body.
    """
    wakers: list[Waker] = []
    if discord_client is not None:
        if ledger is None:
            raise ValueError("the Discord waker needs the channel ledger (the state store)")
        if settings.discord_guild_id is None:
            raise NoWakerConfigured("DISCORD_GUILD_ID must be set to wake agents on Discord")
        wakers.append(
            PrivateChannelWaker(
                discord_client,
                settings.discord_guild_id,
                ledger,
                category_name=settings.wake_category,
                admin_role_id=settings.admin_role_id,
                retention_s=settings.channel_retention_s,
                clock=clock,
                primary=is_primary(settings.shard_config),
                room_ahead=settings.shard_config is not None and settings.shard_config.count > 1,
            )
        )
    environment = spawn_environment(settings, calendar_url)
    if settings.spawn_url or any(a.spawn_url for a in agents):
        wakers.append(SpawnUrlWaker(settings.spawn_url, environment=environment))
    if settings.spawn_argv or any(a.spawn_command for a in agents):
        wakers.append(SpawnCommandWaker(settings.spawn_argv, environment=environment))
    if not wakers:
        raise NoWakerConfigured(
            "no way to wake agents: set DISCORD_TOKEN (with DISCORD_GUILD_ID), SPAWN_URL or "
            "SPAWN_COMMAND, or give agents a spawn_url/spawn_command in AGENTS_FILE"
        )
    return WakerChain(wakers, timeout_s=timeout_s)


def spawn_environment(settings: Settings, calendar_url: str | None) -> SpawnEnvironment:
    """What spawned agents get: `calendar_url`, their own token derived from `CALENDAR_TOKEN`
    and the variables `SPAWN_ENV` names (already checked by the settings)."""
    secret = settings.calendar_token.get_secret_value() if settings.calendar_token else None
    return SpawnEnvironment(
        calendar_url=calendar_url, secret=secret, extra_names=parse_spawn_env(settings.spawn_env)
    )


def channel_waker(chain: WakerChain) -> PrivateChannelWaker | None:
    """The chain's Discord waker (for the janitor loop and notices), if it has one."""
    return next((w for w in chain.wakers if isinstance(w, PrivateChannelWaker)), None)


def unwakeable_agents(chain: WakerChain, agents: Sequence[AgentConfig]) -> list[str]:
    """Agents no waker in the chain can reach (e.g. no discord_user_id and no spawn)."""
    return [a.id for a in agents if not chain.can_wake(a)]


async def close_waker_chain(chain: WakerChain) -> None:
    """Release what the wakers hold (the webhook's HTTP session, the outputs of agents a spawn
    command left running); the Discord client stays."""
    for waker in chain.wakers:
        if isinstance(waker, SpawnUrlWaker):
            await waker.close()
        elif isinstance(waker, SpawnCommandWaker):
            waker.close()


async def open_calendar(
    settings: Settings,
    clock: Clock | None = None,
    *,
    observer: RequestObserver | None = None,
    agents: Sequence[AgentConfig] | None = None,
) -> Calendar:
    """The embedded store for `sqlite:///…` and `postgresql://…`, the HTTP client for
    `http(s)://…`, the CalDAV calendar (through its local copy) for `caldav+http(s)://…`.

    `clock` drives the embedded store's notion of now; a remote calendar keeps its own.
    `observer` is told of every HTTP attempt (the metrics). `agents` (all of
    `AGENTS_FILE`, not one shard's) are the only ones the embedded store takes
    writes for (DESIGN §3.2 `unknown_agent`); a remote calendar knows its own.
    The caller owns the result and must `close()` it.
    """
    agent_ids = None if agents is None else [agent.id for agent in agents]
    if settings.calendar_is_postgres:
        from bot.calendar.pg.calendar import PgCalendar  # psycopg only where it is used

        return await PgCalendar.open_url(
            settings.calendar_url, timezone=settings.tz, clock=clock, agents=agent_ids
        )
    if settings.calendar_is_caldav:
        return await open_caldav(settings, clock, agent_ids)
    if settings.calendar_is_embedded:
        return await EmbeddedCalendar.open(
            settings.calendar_db_path, timezone=settings.tz, clock=clock, agents=agent_ids
        )
    token = settings.calendar_token.get_secret_value() if settings.calendar_token else None
    return HttpCalendar(
        settings.calendar_url,
        timezone=settings.tz,
        token=token,
        observer=observer,
        agents=agent_ids or (),
    )


async def open_caldav(
    settings: Settings, clock: Clock | None, agent_ids: Sequence[str] | None
) -> Calendar:
    """The CalDAV calendar of `CALENDAR_URL`, its local copy kept beside `STATE_PATH` (so a
    restart asks only for what changed, and what was history stays history)."""
    from bot.calendar.caldav.calendar import CaldavCalendar

    account = settings.caldav_account
    state = settings.state_path
    return await CaldavCalendar.open(
        account.home_url,
        timezone=settings.tz,
        agents=agent_ids,
        username=account.username,
        password=account.password,
        copy_path=state.with_name(f"{state.name}.caldav.db"),
        clock=clock,
        poll_s=settings.caldav_poll_s,
    )


def build_moderator(
    settings: Settings,
    agents: Sequence[AgentConfig],
    calendar: Calendar,
    state: StateStore,
    chain: WakerChain,
    clock: Clock,
    *,
    precise_timer: bool = True,
) -> Moderator:
    """The moderator the bot and the headless runner run: rules from the settings,
    the chain as both the waker and the notifier (nudges go where the wake went);
    with `SHARD` set, only the agents of this shard are scheduled. An embedded
    calendar (`sqlite:///`, `postgresql://`) tells it of every change at once, a
    remote one through its change feed (DESIGN §4.1)."""
    changes: ChangeSource | None = None
    if isinstance(calendar, EmbeddedCalendar):
        changes = calendar.changes
    elif isinstance(calendar, ChangeSource):  # the HTTP client's feed, CalDAV's polling
        changes = calendar
    return Moderator(
        owned_agents(settings.shard_config, agents),
        calendar,
        state,
        chain,
        clock,
        timezone=settings.tz,
        check_interval_s=settings.check_interval_s,
        misfire_grace_s=settings.misfire_grace_s,
        wake_template=settings.wake_template,
        notifier=chain,
        precise_timer=precise_timer,
        changes=changes,
    )
