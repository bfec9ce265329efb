"""Running the moderator (`python -m bot`): with Discord, or headless with spawn waking only.

Exit status: 0 after a stop signal (SIGTERM/SIGINT), 2 for a configuration a
person must fix (the message says what), 1 when the bot could not run (Discord
refused the token, the network is away at login, a crash). Every one of them
comes with a message on stderr or in the log, never a bare traceback.

What is opened here rather than by the bot: the calendar and the state, so a
bad path is reported before anything connects to Discord, and so the embedded
calendar served on `CALENDAR_LISTEN` is the very one the scheduler uses.

Shutdown order (each step bounded, the whole within `SHUTDOWN_BUDGET_S`, its
shares in `bot.core.tasks`): the loops stop, an in-flight wake may finish (the
bot's `close()`), then the calendar API server, the state file and the
calendar close. A watchdog ends the process if the teardown hangs anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlparse

from bot.app.calendar_access import calendar_secrets, serve_refusal
from bot.app.calendar_start import open_run_calendar
from bot.app.errors import ConfigError
from bot.app.file_checks import file_problems
from bot.app.logs import setup_logging
from bot.app.modes import Opened, run_discord, run_headless
from bot.app.run_lock import StateInUse, holding
from bot.app.settings import Settings, load_config
from bot.app.shutdown import (
    StopSignal,
    Watchdog,
    bounded,
    held_stop_signals,
    unless_stopped,
)
from bot.app.value_checks import parse_host_port
from bot.calendar.pg.urls import url_passwords
from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.calendar import CalendarError
from bot.core.clock import SystemClock
from bot.core.sqlite_file import DatabaseFileError
from bot.core.state import StateStore
from bot.core.tasks import CLOSE_STEP_S, HARD_LIMIT_S
from bot.core.tokens import TokenKind, derive_token
from bot.metrics import ModeratorMetrics, serve_metrics

log = logging.getLogger(__name__)


def run_bot() -> int:
    """`python -m bot`: read the configuration, then run until a stop signal.

    The stop signals are held from here to the end of the run (the CLI holds them
    sooner, before the imports): see `bot.app.shutdown`.
    """
    with held_stop_signals():
        configured = _configured()
        if isinstance(configured, int):
            return configured
        return asyncio.run(_run(*configured))


def _configured() -> tuple[Settings, list[AgentConfig]] | int:
    """The settings and agents to run with, or the exit status of a refusal (on stderr)."""
    try:
        settings, agents = load_config()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format, secrets_of(settings, agents))
    problem = startup_problem(settings, agents)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    # Both paths are checked before either file is opened: a run that cannot start
    # creates nothing (DESIGN §4); the opener checks again, for what changed since.
    for problem in file_problems(settings):
        print(f"error: {problem}", file=sys.stderr)
    if file_problems(settings):
        return 2
    return settings, agents


def secrets_of(settings: Settings, agents: Sequence[AgentConfig]) -> list[str]:
    """What the log must never show: tokens (each agent's derived ones too: a spawned agent
    has its own and may print it), and spawn URLs (they may carry a token)."""
    found = [settings.discord_token.get_secret_value()] if settings.discord_token else []
    keys = [secret for secret in calendar_secrets(settings) if secret]
    found.extend(keys)
    found.extend(
        derive_token(key, kind, agent.id, agent.token_generation)
        for key in keys
        for agent in agents
        for kind in TokenKind
    )
    urls = [settings.spawn_url, *(a.spawn_url for a in agents)]
    found.extend(url for url in urls if url)
    found.extend(url_passwords(settings.calendar_url))
    return found


def startup_problem(settings: Settings, agents: Sequence[AgentConfig]) -> str | None:
    """A configuration the bot cannot run with, as a message saying what to set."""
    if not agents:
        return (
            f"AGENTS_FILE: {settings.agents_file} lists no agents; add at least one "
            '[[agents]] table with an id (e.g. id = "alice", discord_user_id = 123...)'
        )
    spawn = bool(
        settings.spawn_url
        or settings.spawn_command
        or any(a.spawn_url or a.spawn_command for a in agents)
    )
    if not settings.discord_enabled and not spawn:
        return (
            "nothing can wake the agents: set DISCORD_TOKEN and DISCORD_GUILD_ID to wake them "
            "in private Discord channels, or SPAWN_URL / SPAWN_COMMAND (or spawn_url / "
            "spawn_command per agent in AGENTS_FILE) to run headless"
        )
    if settings.calendar_listen and settings.calendar_is_caldav:
        return (
            "CALENDAR_LISTEN cannot serve a CalDAV calendar in this version (its writes must go "
            "to the CalDAV server first); unset CALENDAR_LISTEN: agents reply in their Discord "
            "channels, and people plan in their calendar app"
        )
    if settings.calendar_listen and not settings.calendar_opened_here:
        host = urlparse(settings.calendar_url).netloc
        return (
            f"CALENDAR_LISTEN serves the embedded calendar's API, but CALENDAR_URL points at "
            f"a remote calendar ({host}); unset CALENDAR_LISTEN (spawned agents can report to "
            "that calendar directly) or use CALENDAR_URL=sqlite:///calendar.db"
        )
    if settings.listen_address is not None:
        refusal = serve_refusal(settings.listen_address[0], *calendar_secrets(settings))
        if refusal is not None:
            return f"CALENDAR_LISTEN: {refusal}"
    return None


def _connect_host(host: str) -> str:
    """An address to reach a server listening on `host` (a wildcard means this machine)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _cannot_listen(variable: str, host: str, port: int, exc: OSError) -> int:
    """A port in use (or not ours to bind) is the operator's to fix: say which setting, exit 2."""
    print(
        f"error: {variable}: cannot listen on {host}:{port} ({exc.strerror or exc})",
        file=sys.stderr,
    )
    return 2


async def _step(what: str, closer: Callable[[], Awaitable[object]]) -> None:
    await bounded(closer(), CLOSE_STEP_S, what)


async def _run(settings: Settings, agents: list[AgentConfig]) -> int:
    stop = StopSignal.install()
    clock = SystemClock()
    watchdog: Watchdog | None = None

    async def arm_watchdog() -> None:
        nonlocal watchdog
        await stop.wait()
        watchdog = Watchdog(HARD_LIMIT_S).start()

    armer = asyncio.create_task(arm_watchdog(), name="shutdown-watchdog")
    try:
        async with contextlib.AsyncExitStack() as stack:
            metrics: ModeratorMetrics | None = None
            if settings.metrics_listen is not None:
                metrics = ModeratorMetrics(
                    sync_interval_s=settings.sync_interval_s, discord=settings.discord_enabled
                )
                host, port = parse_host_port(settings.metrics_listen)
                try:
                    served, actual = await serve_metrics(metrics, host, port)
                except OSError as exc:
                    return _cannot_listen("METRICS_LISTEN", host, port, exc)
                stack.push_async_callback(_step, "stopping the metrics server", served.cleanup)
                log.info("serving /healthz and /metrics on %s:%d", host, actual)
            observer = metrics.calendar_request if metrics is not None else None
            try:
                calendar = await unless_stopped(
                    open_run_calendar(settings, clock=clock, observer=observer, agents=agents),
                    stop,
                    "the calendar",
                )
                if calendar is None:
                    return 0
                stack.push_async_callback(_step, "closing the calendar", calendar.close)
                state = await unless_stopped(
                    StateStore.open(settings.state_path, clock=clock), stop, "the state"
                )
                if state is None:
                    return 0
            except CalendarError as exc:
                print(f"error: CALENDAR_URL: {exc.detail}", file=sys.stderr)
                return 2
            except DatabaseFileError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return exc.exit_code
            stack.push_async_callback(_step, "closing the state", state.close)
            try:  # once the state file is there: a run refused before it leaves no lock file
                stack.enter_context(holding(settings.state_path))
            except StateInUse as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            calendar_url: str | None = None
            address = settings.listen_address
            if address is not None and isinstance(calendar, EmbeddedCalendar):
                host, port = address
                token, previous = calendar_secrets(settings)
                try:
                    server, actual = await start_server(
                        calendar, host, port, token=token, previous_token=previous, agents=agents
                    )
                except OSError as exc:
                    return _cannot_listen("CALENDAR_LISTEN", host, port, exc)
                stack.push_async_callback(_step, "stopping the calendar API", server.cleanup)
                calendar_url = f"http://{_connect_host(host)}:{actual}"
                log.info("serving the embedded calendar's API at %s", calendar_url)
            opened = Opened(settings, agents, calendar, state, clock, calendar_url, stop, metrics)
            if settings.discord_enabled:
                return await run_discord(opened)
            return await run_headless(opened)
    finally:
        armer.cancel()
        stop.uninstall()
        if watchdog is not None:
            watchdog.cancel()
        log.info("stopped")
