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
from bot.app.shutdown import StopSignal, bounded, first_or_stop
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
        if await first_or_stop(start, stop):
            if start.exception() is not None:
                log.error("the moderator's start-up failed", exc_info=start.exception())
                log.info("the sync and check loops still run and retry")
            moderator.start_loops(settings.sync_interval_s)
            await stop.wait()
            deadline = _grace_deadline()
        else:
            deadline = _grace_deadline()
            # Stopped during start-up (a slow calendar): what it writes may finish, like
            # work in flight at any other time.
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
        await first_or_stop(running, stop)
    finally:
        await bounded(bot.close(), CLOSE_BOT_S, "closing the bot")
        await cancel_and_wait(running)
    if stop.event.is_set():
        return 0
    return _explain_end(running, settings)


#: The gateway's close codes discord.py does not retry (discord.gateway `_can_handle_close`),
#: each as what the operator can do about it. discord.py raises `ConnectionClosed` with the
#: code for all but 4014, which it turns into `PrivilegedIntentsRequired`.
GATEWAY_REFUSALS: dict[int, str] = {
    4004: "Discord's gateway refused DISCORD_TOKEN (close 4004, authentication failed): it "
    "was reset or revoked after login; copy the bot token again from the developer portal "
    "(Bot -> Reset Token)",
    4010: "Discord's gateway refused the shard the bot identified with (close 4010, invalid "
    "shard); the moderator connects unsharded, so check that DISCORD_GATEWAY_URL is "
    "Discord's gateway or a proxy that passes IDENTIFY on unchanged",
    4011: "Discord requires sharding for this bot (close 4011, sharding required): its "
    "application is in too many guilds for one gateway session; give the moderator a bot "
    "application of its own, in its guild only",
    4012: "Discord's gateway refused the API version (close 4012, invalid API version): check "
    "that DISCORD_GATEWAY_URL is Discord's gateway, or update discord.py",
    4013: "Discord's gateway called the requested intents invalid (close 4013, invalid "
    "intents): check that DISCORD_GATEWAY_URL is Discord's gateway, or update discord.py",
    4014: "Discord refused the Message Content intent (close 4014, disallowed intents): "
    "enable it for the bot under Bot -> Privileged Gateway Intents in the developer portal",
}


def gateway_refusal(exc: BaseException) -> str | None:
    """The one line for an end of the gateway session discord.py will not retry; None when
    `exc` is not one (a network error, a bug)."""
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return GATEWAY_REFUSALS[4014]
    if isinstance(exc, discord.ConnectionClosed):
        code = exc.code
        return GATEWAY_REFUSALS.get(code, f"Discord's gateway closed the session ({code})")
    return None


def _explain_end(running: asyncio.Task[None], settings: Settings) -> int:
    """The bot stopped without a signal: say why (never with the token), status 1.

    What a person must fix (a refused token, intent, gateway) is one line without a
    traceback; only an error nobody foresaw keeps its traceback, for a bug report.
    """
    exc = running.exception() if not running.cancelled() else None
    if exc is None:
        log.error("the Discord client stopped unexpectedly")
    elif isinstance(exc, discord.LoginFailure):
        log.error("Discord refused DISCORD_TOKEN (%s); check the bot token", exc)
    elif (refusal := gateway_refusal(exc)) is not None:
        log.error("%s", refusal)
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
