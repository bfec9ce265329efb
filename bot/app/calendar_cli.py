"""`python -m bot calendar serve|add|list|edit|cancel|series|token|import|export`: the calendar.

Bad input ends in one line on stderr and exit status 2 (never a traceback);
a calendar that fails or refuses at run time ends in one line and status 1.
Each command's options and work live in the module named for it
(`calendar_serve`, `calendar_add`, `calendar_edit`, `calendar_series`,
`calendar_access`, `calendar_ics`); `list` is here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from bot.app.calendar_access import add_token_parser, print_token
from bot.app.calendar_add import TITLE_SHOWN, add, add_add_parser, slot_fields
from bot.app.calendar_edit import add_edit_parsers, cancel, edit
from bot.app.calendar_ics import add_ics_parsers, export_command, import_command
from bot.app.calendar_series import add_series, add_series_parser, series_command
from bot.app.calendar_serve import add_serve_parser, serve
from bot.app.cli_actions import add_action
from bot.app.cli_values import UsageError, agent_option, check_calendar_path
from bot.app.settings import Settings, load_settings
from bot.app.value_checks import shown
from bot.core.calendar import Calendar, CalendarError
from bot.core.models import Slot
from bot.presenters.formatting import one_line


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
        description="Serve the embedded calendar over its REST API; add, list, edit and cancel "
        "slots; list and end series.",
    )
    actions = calendar.add_subparsers(
        dest="calendar_command", metavar="ACTION", parser_class=_OneLineParser
    )
    add_serve_parser(actions)
    add_add_parser(actions)
    show = add_action(
        actions,
        "list",
        "list a day's slots",
        "List one day's slots, series occurrences included, as a table (times in TIMEZONE).",
    )
    show.add_argument("--agent", help="only this agent (required for a remote calendar)")
    show.add_argument("--date", help="YYYY-MM-DD (default: today in TIMEZONE)")
    add_edit_parsers(actions)
    add_series_parser(actions)
    add_token_parser(actions)
    add_ics_parsers(actions)
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
            return serve(args, settings)
        if command == "add" and args.repeat is not None:
            return asyncio.run(add_series(args, settings, *slot_fields(args, settings)))
        if command == "add":
            return asyncio.run(add(args, settings))
        if command == "edit":
            return asyncio.run(edit(args, settings))
        if command == "cancel":
            return asyncio.run(cancel(args, settings))
        if command == "series":
            return asyncio.run(series_command(args, settings))
        if command == "list":
            return asyncio.run(_list(args, settings))
        if command == "token":
            return print_token(args, settings)
        if command in ("import", "export"):
            return asyncio.run(
                (import_command if command == "import" else export_command)(args, settings)
            )
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CalendarError as exc:
        print(f"error: {one_line(str(exc), 500)}", file=sys.stderr)
        return 1
    print(f"error: unknown calendar action {command!r}", file=sys.stderr)
    return 2


# ---- list ----------------------------------------------------------------------


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app.wiring import open_calendar
    from bot.calendar.store import EmbeddedCalendar

    tz = settings.tz
    agent_id = agent_option(args.agent) if args.agent is not None else None
    if args.date is not None:
        try:
            day = date.fromisoformat(args.date)
        except ValueError:
            raise UsageError(f"--date: {shown(args.date)} is not a date like 2026-01-05") from None
    else:
        day = datetime.now(tz).date()
    if settings.calendar_is_embedded:
        path = settings.calendar_db_path
        check_calendar_path(path, "CALENDAR_URL")
        if str(path) != ":memory:" and not path.exists():
            print(f"no slots: there is no calendar at {path} yet (add one with `calendar add`)")
            return 0
    elif agent_id is None and not settings.calendar_is_postgres:
        raise UsageError("a remote calendar lists one agent at a time: pass --agent")

    calendar = await open_calendar(settings)
    try:
        if agent_id is not None:
            agents = [agent_id]
        else:  # a store (a remote calendar was refused above): every agent it knows
            assert isinstance(calendar, EmbeddedCalendar)
            series = await calendar.list_series()
            agents = sorted({*await calendar.agent_ids(), *(s.agent_id for s in series)})
        slots = [slot for agent in agents for slot in await _day(calendar, agent, day)]
    finally:
        await calendar.close()
    slots.sort(key=lambda slot: (slot.scheduled_at, slot.id))
    who = f"agent {agent_id}" if agent_id else "all agents"
    print(f"{day.isoformat()} ({tz.key}), {who}: {_count(len(slots))}")
    if slots:
        print(format_table(slots, day, tz))
    return 0


async def _day(calendar: Calendar, agent_id: str, day: date) -> list[Slot]:
    """The agent's day as the moderator reads it: single slots and series occurrences."""
    result = await calendar.get_day(agent_id, day)
    return result.schedule.slots if result.schedule is not None else []


def _count(n: int) -> str:
    return "no slots" if n == 0 else f"{n} slot" + ("" if n == 1 else "s")


def format_table(slots: Sequence[Slot], day: date, tz: ZoneInfo) -> str:
    """An aligned table: time (in `tz`), agent, priority, status, id, title."""
    header = ("TIME", "AGENT", "PRI", "STATUS", "ID", "TITLE")
    rows = []
    for slot in slots:
        local = slot.scheduled_at.astimezone(tz)
        at = f"{local:%H:%M}" if local.date() == day else f"{local:%Y-%m-%d %H:%M}"
        rows.append(
            (
                at,
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
