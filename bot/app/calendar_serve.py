"""`python -m bot calendar serve`: the embedded calendar over its REST API, until a signal.

The stop signals are handled as the bot's run handles them (`bot.app.shutdown`):
held from the command's start to its end, so a stop repeated during the exit
cannot end the process by the signal after a clean stop (exit 0), and a stop
while the calendar is being opened ends the command at once.

The server gets everything the access rules need (DESIGN §3.3): the full
token, the previous one during a rotation, and the agents of `AGENTS_FILE`
(their token generations; a slot for anyone else is `unknown_agent`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app.calendar_access import calendar_secrets, file_agents, serve_refusal
from bot.app.cli_actions import add_action
from bot.app.cli_values import UsageError, check_calendar_path, whole_number
from bot.app.settings import Settings
from bot.app.shutdown import StopSignal, held_stop_signals, unless_stopped
from bot.calendar.pg.urls import shown_url, url_passwords
from bot.core.agents import AgentConfig
from bot.core.sqlite_file import DatabaseFileError

log = logging.getLogger("bot.calendar")


def add_serve_parser(actions: Any) -> None:
    serve = add_action(
        actions,
        "serve",
        "serve the embedded calendar over the REST API",
        "Serve the embedded calendar (CALENDAR_URL=sqlite:///… or --db) over "
        "HTTP. Requests need 'Authorization: Bearer <CALENDAR_TOKEN>' (or an agent's own "
        "token) when that is set; beyond loopback (127.0.0.0/8, ::1, localhost) a "
        "CALENDAR_TOKEN of at least 32 characters is required. With AGENTS_FILE present "
        "only its agents are served.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", default="8080", help="port to listen on (0 picks a free one)")
    serve.add_argument("--db", help="SQLite file to serve (default: from CALENDAR_URL)")


def serve(args: argparse.Namespace, settings: Settings) -> int:
    port = whole_number(args.port, "--port", 0, 65535)
    db_path: Path | str
    if args.db:
        db_path, source = Path(args.db), "--db"
    elif settings.calendar_is_embedded:
        db_path, source = settings.calendar_db_path, "CALENDAR_URL"
    elif settings.calendar_is_postgres:  # several servers may share it (DESIGN §11)
        db_path, source = settings.calendar_url, "CALENDAR_URL"
    else:
        raise UsageError(
            "serve needs a calendar store: CALENDAR_URL is remote "
            f"({settings.calendar_url}); set CALENDAR_URL=sqlite:///calendar.db (or "
            "postgresql://…) or pass --db PATH"
        )
    token, previous = calendar_secrets(settings)
    refusal = serve_refusal(args.host, token, previous)
    if refusal is not None:
        raise UsageError(f"calendar serve: {refusal}")
    if isinstance(db_path, Path):
        check_calendar_path(db_path, source)
    agents = file_agents(settings)
    from bot.app.logs import setup_logging

    secrets = [s for s in (token, previous) if s] + url_passwords(settings.calendar_url)
    setup_logging(settings.log_level, settings.log_format, secrets)
    # Held to the end of the command, as the bot's run holds them (`bot.app.shutdown`): a
    # stop repeated during the exit must not end the process by the signal after exit 0.
    with held_stop_signals():
        try:
            return asyncio.run(
                _serve_until_stopped(
                    db_path, args.host, port, settings.tz, (token, previous), agents
                )
            )
        except DatabaseFileError as exc:
            # The opener names CALENDAR_URL; the person may have given the file as --db.
            print(f"error: {source}: {exc.path} {exc.problem}", file=sys.stderr)
            return exc.exit_code


async def _serve_until_stopped(
    db_path: Path | str,
    host: str,
    port: int,
    tz: ZoneInfo,
    secrets: tuple[str | None, str | None],
    agents: Sequence[AgentConfig] | None,
) -> int:
    from bot.calendar.server import start_server
    from bot.calendar.store import EmbeddedCalendar

    token, previous = secrets
    known = None if agents is None else [agent.id for agent in agents]
    stop = StopSignal.install()
    opening: Coroutine[Any, Any, EmbeddedCalendar]
    if isinstance(db_path, str):
        from bot.calendar.pg.calendar import PgCalendar

        opening = PgCalendar.open_url(db_path, timezone=tz, agents=known)
    else:
        opening = EmbeddedCalendar.open(db_path, timezone=tz, agents=known)
    try:
        # A file another process keeps locked, a database that does not answer: a stop
        # still ends the command within its budget, with 0.
        calendar = await unless_stopped(opening, stop, "the calendar")
        if calendar is None:
            return 0
        try:
            try:
                runner, actual = await start_server(
                    calendar, host, port, token=token, previous_token=previous, agents=agents
                )
            except OSError as exc:
                print(
                    f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr
                )
                return 1
            shown_host = f"[{host}]" if ":" in host else host
            base = f"http://{shown_host}:{actual}"
            log.info(
                "calendar API listening on %s (database %s, time zone %s, auth %s, agents %s); "
                "stop with Ctrl-C",
                base,
                shown_url(db_path) if isinstance(db_path, str) else db_path,
                tz.key,
                "on: requests need CALENDAR_TOKEN or an agent token" if token else "off",
                "any" if known is None else f"{len(known)} from AGENTS_FILE",
            )
            if not token:
                log.info("try: curl -H 'X-Agent-Id: alice' '%s/calendar/agent/status'", base)
            try:
                await stop.wait()
            finally:
                await runner.cleanup()
            log.info("calendar server stopped")
            return 0
        finally:
            await calendar.close()
    finally:
        stop.uninstall()
