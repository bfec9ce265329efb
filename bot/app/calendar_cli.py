"""`python -m bot calendar serve|add|list|token`: run and fill the calendar from a shell.

Bad input ends in one line on stderr and exit status 2 (never a traceback);
a calendar that fails at run time ends in one line and status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.app.calendar_access import add_token_parser, print_token, serve_refusal
from bot.app.settings import Settings, load_settings
from bot.core.calendar import CalendarError
from bot.core.models import (
    AGENT_ID_PATTERN,
    Slot,
    SlotCreate,
    describe_validation,
    is_valid_agent_id,
)
from bot.presenters.formatting import one_line

log = logging.getLogger("bot.calendar")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: Longest title shown in `add`'s confirmation and in `list`'s table.
TITLE_SHOWN = 60


class UsageError(Exception):
    """A bad argument; the message is the whole one-line explanation."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Refuse stray arguments here, before the top-level parser prints its usage dump."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def add_calendar_parser(sub: Any) -> None:
    calendar = sub.add_parser(
        "calendar",
        help="serve, fill or list the calendar",
        description="Serve the embedded calendar over its REST API, add slots, list a day.",
    )
    actions = calendar.add_subparsers(
        dest="calendar_command", metavar="ACTION", parser_class=_OneLineParser
    )

    serve = actions.add_parser(
        "serve",
        help="serve the embedded calendar over the REST API",
        description="Serve the embedded calendar (CALENDAR_URL=sqlite:///… or --db) over "
        "HTTP. Requests need 'Authorization: Bearer <CALENDAR_TOKEN>' when that is set; "
        "beyond loopback (127.0.0.0/8, ::1, localhost) a CALENDAR_TOKEN of at least 32 "
        "characters is required.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", default="8080", help="port to listen on (0 picks a free one)")
    serve.add_argument("--db", help="SQLite file to serve (default: from CALENDAR_URL)")

    add = actions.add_parser(
        "add",
        help="add a slot",
        description="Add a slot for an agent; prints the new slot's id.",
    )
    add.add_argument("--agent", required=True, help="agent id")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", help="when: ISO date-time (no offset = in TIMEZONE) or HH:MM today")
    when.add_argument("--in", dest="in_", metavar="DELAY", help="when: from now, e.g. 90s, 10m, 2h")
    add.add_argument("--title", required=True)
    add.add_argument("--prompt", required=True, help="what the agent is asked to do")
    add.add_argument("--priority", default="50", help="0..100, higher first (default 50)")
    add.add_argument("--duration", default="30", help="estimated minutes (default 30)")
    add.add_argument("--type", dest="slot_type", default="work", help='slot type (default "work")')

    show = actions.add_parser(
        "list",
        help="list a day's slots",
        description="List one day's slots as a table (times in TIMEZONE).",
    )
    show.add_argument("--agent", help="only this agent (required for a remote calendar)")
    show.add_argument("--date", help="YYYY-MM-DD (default: today in TIMEZONE)")

    add_token_parser(actions)
    calendar.set_defaults(calendar_parser=calendar)


def run_calendar_command(args: argparse.Namespace) -> int:
    command = getattr(args, "calendar_command", None)
    if command is None:
        parser: argparse.ArgumentParser = args.calendar_parser
        parser.print_help(sys.stderr)
        return 2
    settings = load_settings()
    try:
        if command == "serve":
            return _serve(args, settings)
        if command == "add":
            return asyncio.run(_add(args, settings))
        if command == "list":
            return asyncio.run(_list(args, settings))
        if command == "token":
            return print_token(args, settings)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CalendarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"error: unknown calendar action {command!r}", file=sys.stderr)
    return 2


# ---- argument parsing ------------------------------------------------------


def parse_delay(text: str) -> timedelta:
    """'90s', '10m', '2h', '1h30m', '1.5d' as a duration."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise UsageError(f"--in: {text!r} is not a delay like 90s, 10m, 2h or 1h30m")
    return timedelta(seconds=sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))


def parse_when(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """An ISO date-time (naive = in `tz`), or HH:MM meaning today in `tz`."""
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            clock_time = time.fromisoformat(value)
        except ValueError:
            raise UsageError(
                f"--at: {text!r} is not a date-time like 2026-01-05T09:30, "
                "2026-01-05T09:30+02:00 or 09:30"
            ) from None
        moment = datetime.combine(now.astimezone(tz).date(), clock_time)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


def _int_in(text: str, name: str, low: int, high: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f"at least {low}"
        raise UsageError(f"{name}: {text!r} must be a whole number, {bounds}")
    return value


def _agent(text: str) -> str:
    if not is_valid_agent_id(text):
        raise UsageError(f"--agent: {text!r} is not an agent id ({AGENT_ID_PATTERN})")
    return text


# ---- serve -------------------------------------------------------------------


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    port = _int_in(args.port, "--port", 0, 65535)
    if args.db:
        db_path = Path(args.db)
    elif settings.calendar_is_embedded:
        db_path = settings.calendar_db_path
    else:
        raise UsageError(
            "serve needs the embedded calendar: CALENDAR_URL is remote "
            f"({settings.calendar_url}); set CALENDAR_URL=sqlite:///calendar.db or pass --db PATH"
        )
    token = settings.calendar_token.get_secret_value() if settings.calendar_token else None
    refusal = serve_refusal(args.host, token)
    if refusal is not None:
        raise UsageError(f"calendar serve: {refusal}")
    from bot.app.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format, [token] if token else [])
    return asyncio.run(_serve_until_stopped(db_path, args.host, port, token, settings.tz))


async def _serve_until_stopped(
    db_path: Path, host: str, port: int, token: str | None, tz: ZoneInfo
) -> int:
    from bot.calendar.server import start_server
    from bot.calendar.store import EmbeddedCalendar

    calendar = await EmbeddedCalendar.open(db_path, timezone=tz)
    try:
        try:
            runner, actual = await start_server(calendar, host, port, token=token)
        except OSError as exc:
            print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        shown_host = f"[{host}]" if ":" in host else host
        base = f"http://{shown_host}:{actual}"
        log.info(
            "calendar API listening on %s (database %s, time zone %s, auth %s); stop with Ctrl-C",
            base,
            db_path,
            tz.key,
            "on: requests need CALENDAR_TOKEN as their bearer token" if token else "off",
        )
        if not token:
            log.info("try: curl -H 'X-Agent-Id: alice' '%s/calendar/agent/status'", base)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on Windows
                pass
        try:
            await stop.wait()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            await runner.cleanup()
        log.info("calendar server stopped")
        return 0
    finally:
        await calendar.close()


# ---- add -----------------------------------------------------------------------


async def _add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app.wiring import open_calendar
    from bot.core.clock import SystemClock

    tz = settings.tz
    agent_id = _agent(args.agent)
    now = SystemClock().now()
    when = now + parse_delay(args.in_) if args.in_ is not None else parse_when(args.at, tz, now)
    priority = _int_in(args.priority, "--priority", 0, 100)
    duration = _int_in(args.duration, "--duration", 1)
    if not args.slot_type.strip():
        raise UsageError("--type must not be empty")
    try:
        new = SlotCreate(
            agent_id=agent_id,
            scheduled_at=when,
            estimated_duration_min=duration,
            priority=priority,
            slot_type=args.slot_type,
            title=args.title,
            prompt=args.prompt,
        )
    except ValidationError as exc:
        raise UsageError(f"the slot is not valid: {describe_validation(exc)}") from None
    calendar = await open_calendar(settings)
    try:
        slot = await calendar.create_slot(new)
    finally:
        await calendar.close()
    local = slot.scheduled_at.astimezone(tz)
    print(
        f"added slot for {slot.agent_id} at {local:%Y-%m-%d %H:%M} {tz.key}, "
        f"priority {slot.priority}, {slot.estimated_duration_min} min: "
        f"{one_line(slot.title, TITLE_SHOWN)}",
        file=sys.stderr,
    )
    print(slot.id)
    return 0


# ---- list ----------------------------------------------------------------------


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app.wiring import open_calendar
    from bot.calendar.store import EmbeddedCalendar

    tz = settings.tz
    agent_id = _agent(args.agent) if args.agent is not None else None
    if args.date is not None:
        try:
            day = date.fromisoformat(args.date)
        except ValueError:
            raise UsageError(f"--date: {args.date!r} is not a date like 2026-01-05") from None
    else:
        day = datetime.now(tz).date()
    if settings.calendar_is_embedded:
        path = settings.calendar_db_path
        if str(path) != ":memory:" and not path.exists():
            print(f"no slots: there is no calendar at {path} yet (add one with `calendar add`)")
            return 0
    elif agent_id is None:
        raise UsageError("a remote calendar lists one agent at a time: pass --agent")

    calendar = await open_calendar(settings)
    try:
        if isinstance(calendar, EmbeddedCalendar):
            slots = await calendar.list_slots(day, agent_id=agent_id)
        else:
            assert agent_id is not None
            result = await calendar.get_day(agent_id, day)
            slots = result.schedule.slots if result.schedule is not None else []
    finally:
        await calendar.close()
    who = f"agent {agent_id}" if agent_id else "all agents"
    print(f"{day.isoformat()} ({tz.key}), {who}: {_count(len(slots))}")
    if slots:
        print(format_table(slots, day, tz))
    return 0


def _count(n: int) -> str:
    return "no slots" if n == 0 else f"{n} slot" + ("" if n == 1 else "s")


def format_table(slots: Sequence[Slot], day: date, tz: ZoneInfo) -> str:
    """An aligned table: time (in `tz`), agent, priority, status, id, title."""
    header = ("TIME", "AGENT", "PRI", "STATUS", "ID", "TITLE")
    rows = []
    for slot in slots:
        local = slot.scheduled_at.astimezone(tz)
        shown = f"{local:%H:%M}" if local.date() == day else f"{local:%Y-%m-%d %H:%M}"
        rows.append(
            (
                shown,
                slot.agent_id,
                str(slot.priority),
                slot.status.value,
                slot.id,
                one_line(slot.title, TITLE_SHOWN),
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if i == 2 else cell.ljust(widths[i])
            for i, cell in enumerate(row[:-1])
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)
