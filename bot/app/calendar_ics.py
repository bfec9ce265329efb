"""`calendar import FILE.ics --agent ID` and `calendar export --agent ID [--from --to]` (§9, §10).

Both work on the calendar `CALENDAR_URL` names. Embedded: the file is read
here and written in one transaction. Served: the file is sent to the server's
`POST /calendar/ics/{agent}`, which does the same there. Export writes the
same ICS as the feed (`bot.calendar.ics.export`), read through the range list
and the series list of either kind of calendar.

An import lists every event it skipped with its UID and reason, then a
summary; a file refused whole (not iCalendar, cut off, too large, too many
events) imports nothing and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app.calendar_access import file_agents
from bot.app.cli_actions import add_action, add_agent_option
from bot.app.cli_values import UsageError, agent_option, parse_at
from bot.app.settings import Settings
from bot.calendar.ics.export import FEED_AHEAD, FEED_BACK, Window, agent_feed
from bot.calendar.ics.read import IcsFileError
from bot.presenters.formatting import one_line


def add_ics_parsers(actions: Any) -> None:
    imported = add_action(
        actions,
        "import",
        "import an ICS file for one agent",
        "Import the events of an ICS file as the agent's slots and series. "
        "Importing the same file again updates what it made (keyed by UID and "
        "RECURRENCE-ID), never duplicates; past events are kept as history; events the "
        "calendar cannot keep (all-day, no DTSTART, unknown TZID, RRULE finer than hourly, "
        "too large) are listed and skipped.",
    )
    imported.add_argument("file", help="the .ics file")
    add_agent_option(imported)
    exported = add_action(
        actions,
        "export",
        "write an agent's plan as ICS",
        "Write the agent's slots and series as ICS on stdout, as the ICS feed "
        "serves them (default: 7 days back to 60 days ahead).",
        agent=True,
    )
    exported.add_argument("--from", dest="start", help="YYYY-MM-DD HH:MM (TIMEZONE)")
    exported.add_argument("--to", dest="end", help="YYYY-MM-DD HH:MM (TIMEZONE)")


async def import_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app.wiring import open_calendar
    from bot.calendar.client.ics import upload_ics
    from bot.calendar.ics.plan import plan_import
    from bot.calendar.store import EmbeddedCalendar

    agent_id = agent_option(args.agent)
    path = Path(args.file)
    if not await asyncio.to_thread(path.is_file):
        raise UsageError(f"{one_line(str(path), 200)} is not a file")
    if settings.calendar_is_caldav:
        raise UsageError(
            "CALENDAR_URL is a CalDAV calendar: import the file with your calendar app (each "
            "event it adds there reaches the moderator by itself)"
        )
    try:
        if settings.calendar_is_embedded:
            plan = await asyncio.to_thread(plan_import, path, agent_id, settings.tz)
            agents = file_agents(settings)
            calendar = await open_calendar(settings, agents=agents)
            try:
                assert isinstance(calendar, EmbeddedCalendar)
                outcome = await calendar.import_batch(agent_id, plan.series, plan.slots)
            finally:
                await calendar.close()
            outcome.skipped[:0] = [(r.name, r.reason) for r in plan.refused]
        else:
            token = settings.calendar_token
            outcome = await upload_ics(
                settings.calendar_url,
                token.get_secret_value() if token is not None else None,
                agent_id,
                path,
            )
    except IcsFileError as exc:
        print(f"error: nothing imported: {one_line(str(exc), 500)}", file=sys.stderr)
        return 1
    for name, reason in outcome.skipped:
        print(f"skipped {one_line(name, 220)}: {one_line(reason, 300)}")
    print(
        f"{path.name} for {agent_id}: {outcome.created} new, {outcome.updated} updated, "
        f"{outcome.unchanged} unchanged, {len(outcome.skipped)} skipped"
    )
    return 0


async def export_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app.wiring import open_calendar

    agent_id = agent_option(args.agent)
    now = datetime.now(settings.tz)
    window = Window(
        _moment(args.start, "--from", settings, now, -FEED_BACK),
        _moment(args.end, "--to", settings, now, FEED_AHEAD),
    )
    if window.end <= window.start:
        raise UsageError("--to must be after --from")
    calendar = await open_calendar(settings)
    try:
        ics = await agent_feed(calendar, agent_id, window, timezone=settings.tz, stamp=now)
    finally:
        await calendar.close()
    sys.stdout.buffer.write(ics)
    sys.stdout.flush()
    return 0


def _moment(
    text: str | None, option: str, settings: Settings, now: datetime, default: timedelta
) -> datetime:
    if text is None:
        return now + default
    try:
        return parse_at(text, settings.tz, now)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--at", option)) from None
