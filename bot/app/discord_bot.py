"""Making the Discord bot from the settings: options, wakers, moderator and cogs, handed down.

`ModeratorBot` knows neither the settings nor the cogs package (the layers
contract: the app wires, `bot.discord_io` and `cogs` are wired). Here the
settings become `BotOptions`, the waker chain and the moderator are built
around the bot's own client (`wire`, called by the bot's constructor), and the
extension list comes from `cogs`. `python -m bot`, the end-to-end tests and
the benchmarks all make their bot here, so they run the same thing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import discord

import cogs
from bot.app.alerting import alert_desk, post_alerts
from bot.app.calendar_access import calendar_secrets
from bot.app.settings import Settings
from bot.app.wiring import (
    build_moderator,
    build_waker_chain,
    channel_waker,
    close_waker_chain,
    open_calendar,
    unwakeable_agents,
)
from bot.calendar.ics.links import FeedLinks, feed_base
from bot.core.agents import AgentConfig
from bot.core.calendar import Calendar
from bot.core.clock import Clock, SystemClock
from bot.core.state import StateStore
from bot.discord_io.client import BotOptions, BotParts, Closer, Extensions, ModeratorBot

log = logging.getLogger(__name__)

EXTENSIONS = Extensions(names=cogs.EXTENSIONS, essential=cogs.ESSENTIAL_EXTENSIONS)


def bot_options(settings: Settings) -> BotOptions:
    """The part of the settings the bot and its cogs use; needs `DISCORD_GUILD_ID`."""
    if settings.discord_guild_id is None:
        raise ValueError("ModeratorBot needs DISCORD_GUILD_ID")
    return BotOptions(
        guild_id=settings.discord_guild_id,
        tz=settings.tz,
        api_base=settings.discord_api_base,
        gateway_url=settings.discord_gateway_url,
        admin_role_id=settings.admin_role_id,
        wake_category=settings.wake_category,
        channel_retention_s=settings.channel_retention_s,
        sync_interval_s=settings.sync_interval_s,
        check_interval_s=settings.check_interval_s,
        shard=settings.shard_config,
        feed_links=FeedLinks(
            feed_base(settings.calendar_url, settings.listen_address), calendar_secrets(settings)[0]
        ),
    )


def build_bot(
    settings: Settings,
    agents: Sequence[AgentConfig],
    *,
    calendar: Calendar,
    state: StateStore,
    clock: Clock | None = None,
    calendar_url: str | None = None,
    precise_timer: bool = True,
    closers: Sequence[Closer] = (),
    alert_clock: Clock | None = None,
    **client_options: Any,
) -> ModeratorBot:
    """The bot over an opened calendar and state (closed by the caller unless in `closers`).

    `precise_timer=False` only for bench/wake_latency.py: the seed's check loop alone.
    `alert_clock` paces the alert channel's rate limit (tests; default: `clock`).
    """
    options = bot_options(settings)
    clock = clock or SystemClock()

    def wire(client: discord.Client) -> BotParts:
        chain = build_waker_chain(
            settings,
            agents,
            discord_client=client,
            ledger=state,
            calendar_url=calendar_url,
            clock=clock,
        )
        for name in unwakeable_agents(chain, agents):
            log.warning(
                "agent %s has no discord_user_id and no spawn fallback: it cannot be woken", name
            )
        moderator = build_moderator(
            settings, agents, calendar, state, chain, clock, precise_timer=precise_timer
        )
        return BotParts(
            waker=chain,
            moderator=moderator,
            channel_waker=channel_waker(chain),
            release=lambda: close_waker_chain(chain),
        )

    bot = ModeratorBot(
        options,
        agents,
        calendar=calendar,
        state=state,
        clock=clock,
        wire=wire,
        extensions=EXTENSIONS,
        closers=closers,
        **client_options,
    )
    if settings.alert_channel_id is not None:
        desk = alert_desk(settings, bot.moderator, alert_clock or clock)
        post_alerts(bot, settings.alert_channel_id, desk)
    return bot


async def open_bot(
    settings: Settings,
    agents: Sequence[AgentConfig],
    *,
    clock: Clock | None = None,
    calendar_url: str | None = None,
    precise_timer: bool = True,
    **client_options: Any,
) -> ModeratorBot:
    """Open the calendar and state from the settings too; the bot closes them in `close()`."""
    clock = clock or SystemClock()
    calendar = await open_calendar(settings, clock=clock, agents=agents)
    try:
        state = await StateStore.open(settings.state_path, clock=clock)
    except BaseException:
        await calendar.close()
        raise
    try:
        return build_bot(
            settings,
            agents,
            calendar=calendar,
            state=state,
            clock=clock,
            calendar_url=calendar_url,
            precise_timer=precise_timer,
            closers=(("state", state.close), ("calendar", calendar.close)),
            **client_options,
        )
    except BaseException:
        await state.close()
        await calendar.close()
        raise
