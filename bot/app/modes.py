"""The two ways the moderator runs once its calendar and state are open: headless (spawn
waking only) or with Discord. `runner` opens and closes what both share; these only run.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

import discord

from bot.app.alerting import alert_desk, log_alerts
from bot.app.settings import Settings
from bot.app.shutdown import StopSignal, bounded
from bot.app.wiring import (
    NoWakerConfigured,
    build_moderator,
    build_waker_chain,
    close_waker_chain,
    unwakeable_agents,
)
from bot.core.agents import AgentConfig
from bot.core.calendar import Calendar
from bot.core.clock import Clock
from bot.core.shard_status import feed_health
from bot.core.state import StateStore
from bot.core.tasks import CLOSE_BOT_S, CLOSE_STEP_S, IN_FLIGHT_GRACE_S, cancel_and_wait
from bot.metrics import ModeratorMetrics, attach_discord
from bot.net import TRANSIENT_NETWORK_ERRORS

log = logging.getLogger(__name__)


def feed_state(calendar: Calendar) -> Callable[[], bool]:
    """Whether changes reach the moderator at once: the HTTP client's feed answering, or
    the embedded calendar, which tells it in-process after every commit (DESIGN §4.1)."""
    return lambda: feed_health(calendar).live


@dataclass(frozen=True, slots=True)
class Opened:
    """What the runner opened for a run, handed to the mode as one thing."""

    settings: Settings
    agents: list[AgentConfig]
    calendar: Calendar
    state: StateStore
    clock: Clock
    #: Where the embedded calendar is served (`CALENDAR_LISTEN`), for spawned agents.
    calendar_url: str | None
    stop: StopSignal
    metrics: ModeratorMetrics | None


def _grace_deadline() -> float:
    """When the in-flight grace of a stop that starts now runs out (loop time)."""
    return asyncio.get_running_loop().time() + IN_FLIGHT_GRACE_S


def _left(deadline: float | None) -> float:
    """What is left of the in-flight grace (all of it when the stop came another way)."""
    if deadline is None:
        return IN_FLIGHT_GRACE_S
    return max(0.0, deadline - asyncio.get_running_loop().time())


async def _first_or_stop(task: asyncio.Task[None], stop: StopSignal) -> bool:
    """Wait until `task` ends or a stop signal comes; True when the task ended."""
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    return task.done()


async def run_headless(opened: Opened) -> int:
    """Spawn waking only: the moderator's loops until a stop signal."""
    settings, agents, clock, stop, metrics = (
        opened.settings,
        opened.agents,
        opened.clock,
        opened.stop,
        opened.metrics,
    )
    try:
        chain = build_waker_chain(settings, agents, calendar_url=opened.calendar_url, clock=clock)
    except NoWakerConfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info(
        "running headless: DISCORD_TOKEN is not set, so agents are woken through %s only "
        "(no Discord channels, no replies there, no slash commands)",
        " and ".join(w.name for w in chain.wakers),
    )
    for name in unwakeable_agents(chain, agents):
        log.warning(
            "agent %s has no spawn_url/spawn_command and no global one: it is never woken", name
        )
    moderator = build_moderator(settings, agents, opened.calendar, opened.state, chain, clock)
    if metrics is not None:
        metrics.watch(moderator, feed_state(opened.calendar))
    if settings.alert_channel_id is not None:
        log_alerts(moderator.events, alert_desk(settings, moderator, clock))
    deadline: float | None = None
    try:
        start = asyncio.create_task(moderator.start(), name="moderator-start")
        if await _first_or_stop(start, stop):
            if start.exception() is not None:
                log.error("the moderator's start-up failed", exc_info=start.exception())
                log.info("the sync and check loops still run and retry")
            moderator.start_loops(settings.sync_interval_s)
            await stop.wait()
            deadline = _grace_deadline()
        else:
            deadline = _grace_deadline()
            # Stopped during start-up: a wake in flight may finish, like at any other time.
            await bounded(asyncio.shield(start), _left(deadline), "the start-up")
            await cancel_and_wait(start)
    finally:
        # The start-up and the moderator's in-flight wake share one grace window.
        grace = _left(deadline)
        await bounded(moderator.stop(grace_s=grace), grace + CLOSE_STEP_S, "stopping")
        await bounded(close_waker_chain(chain), CLOSE_STEP_S, "closing the wakers")
    return 0


async def run_discord(opened: Opened) -> int:
    """With Discord: the bot (and its moderator) until a stop signal or its end."""
    from bot.app.discord_bot import build_bot

    settings, agents, stop, metrics = opened.settings, opened.agents, opened.stop, opened.metrics
    assert settings.discord_token is not None
    bot = build_bot(
        settings,
        agents,
        calendar=opened.calendar,
        state=opened.state,
        clock=opened.clock,
        calendar_url=opened.calendar_url,
    )
    if metrics is not None:
        metrics.watch(bot.moderator, feed_state(opened.calendar))
        attach_discord(bot, metrics)
    log.info(
        "starting with Discord: guild %s, %d agent(s), wake category %r",
        settings.discord_guild_id,
        len(agents),
        settings.wake_category,
    )
    running = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()), name="bot")
    try:
        await _first_or_stop(running, stop)
    finally:
        await bounded(bot.close(), CLOSE_BOT_S, "closing the bot")
        await cancel_and_wait(running)
    if stop.event.is_set():
        return 0
    return _explain_end(running, settings)


def _explain_end(running: asyncio.Task[None], settings: Settings) -> int:
    """The bot stopped without a signal: say why (never with the token), status 1."""
    exc = running.exception() if not running.cancelled() else None
    if exc is None:
        log.error("the Discord client stopped unexpectedly")
    elif isinstance(exc, discord.LoginFailure):
        log.error("Discord refused DISCORD_TOKEN (%s); check the bot token", exc)
    elif isinstance(exc, discord.PrivilegedIntentsRequired):
        log.error(
            "Discord refused the Message Content intent: enable it for the bot under "
            "Bot -> Privileged Gateway Intents in the developer portal"
        )
    elif isinstance(exc, TRANSIENT_NETWORK_ERRORS):
        log.error(
            "cannot reach Discord at %s (%s: %s)",
            settings.discord_api_base,
            type(exc).__name__,
            exc,
        )
    else:
        log.error("the bot stopped on an error", exc_info=exc)
    return 1
