"""`calendar add --repeat`, `calendar series list|end`: recurring slots from a shell (DESIGN §3.1).

`--repeat` takes the words `/plan` takes (`bot.core.when.repeat_rule`: daily,
weekdays, weekly, monthly, or an RRULE) and the rule is checked here with the
calendar's own recurrence rules before anything is opened, so an invalid rule,
one finer than hourly or one with no instance is a usage error naming
`--repeat` (exit 2). The first instance is `--at`/`--in`, as a wall time in
TIMEZONE, so 09:00 stays 09:00 across DST.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.app.calendar_access import file_agents
from bot.app.calendar_add import TITLE_SHOWN, options_said
from bot.app.calendar_edit import refused
from bot.app.cli_actions import add_action
from bot.app.cli_values import UsageError, agent_option
from bot.app.settings import Settings
from bot.core.calendar import BadRequest, SlotNotFound, TransitionConflict
from bot.core.models import Series, SeriesCreate
from bot.core.series import Recurrence, SeriesRuleError, next_instants
from bot.core.when import WhenError, repeat_rule
from bot.presenters.formatting import one_line

#: How many coming times a series is shown with.
NEXT_SHOWN = 3
_SERIES_ID_MAX = 200
#: A first time further back than this needs --allow-past, as a slot's does (DESIGN §3.2).
PAST_GRACE = timedelta(hours=1)


def add_series_parser(actions: Any) -> None:
    series = add_action(
        actions,
        "series",
        "list or end recurring slots",
        "List the series (with their next times) or end one.",
    )
    kinds = series.add_subparsers(dest="series_command", metavar="ACTION", required=True)
    listing = kinds.add_parser("list", help="the series and their next three times")
    listing.add_argument("--agent", help="only this agent's series")
    end = kinds.add_parser(
        "end", help="end a series", description="No instance after now; waiting ones cancelled."
    )
    end.add_argument("series_id", metavar="SERIES_ID")


def next_times(series: Series, now: datetime, count: int = NEXT_SHOWN) -> list[datetime]:
    """The series' next `count` instants after `now` (none once it ended), in its own zone."""
    zone = ZoneInfo(series.timezone)
    return [moment.astimezone(zone) for moment in next_instants(series, now, count)]


def _times(moments: list[datetime]) -> str:
    return ", ".join(f"{moment:%Y-%m-%d %H:%M}" for moment in moments) or "none"


async def add_series(
    args: argparse.Namespace,
    settings: Settings,
    fields: dict[str, Any],
    options: Mapping[str, str],
) -> int:
    """`add --repeat`: `fields` are the slot fields `add` read, `scheduled_at` the first time."""
    from bot.app.wiring import open_calendar
    from bot.core.clock import SystemClock

    tz = settings.tz
    starts_at: datetime = fields.pop("scheduled_at")
    if not args.allow_past and starts_at < SystemClock().now() - PAST_GRACE:
        raise UsageError(
            f"{options['scheduled_at']}: {starts_at.astimezone(tz):%Y-%m-%d %H:%M} {tz.key} is "
            "more than an hour in the past; pass --allow-past to start the series there "
            "(its past instances are history, never woken)"
        )
    first = starts_at.astimezone(tz).replace(tzinfo=None)
    try:
        rule = repeat_rule(args.repeat, first)
        wall = first.isoformat(timespec="seconds")
        Recurrence.checked(rule.rule, wall, tz.key)
        new = SeriesCreate(**fields, rrule=rule.rule, start=wall, timezone=tz.key)
    except WhenError as exc:
        raise UsageError(f"--repeat: {exc}") from None
    except SeriesRuleError as exc:
        option = "--repeat" if exc.field == "rrule" else options["scheduled_at"]
        raise UsageError(f"{option}: {one_line(exc.detail, 300)}") from None
    except ValidationError as exc:
        raise UsageError(options_said(exc, {**options, "rrule": "--repeat"})) from None
    agents = file_agents(settings) if settings.calendar_opened_here else None
    calendar = await open_calendar(settings, agents=agents)
    try:
        series = await calendar.create_series(new)
    except (BadRequest, SlotNotFound) as exc:  # the calendar's refusal: nothing was stored
        said = refused(exc, "series", {**options, "rrule": "--repeat"}, "--agent")
        print(f"error: {said.replace('nothing was changed', 'nothing was added')}", file=sys.stderr)
        return 1
    finally:
        await calendar.close()
    coming = next_times(series, SystemClock().now())
    print(
        f"added series for {series.agent_id}: {series.rrule} in {series.timezone}, "
        f"next {_times(coming)}: {one_line(series.title, TITLE_SHOWN)}"
        + (f" ({rule.note})" if rule.note else ""),
        file=sys.stderr,
    )
    print(series.id)
    return 0


async def series_command(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app.wiring import open_calendar
    from bot.core.clock import SystemClock

    if args.series_command == "list":
        agent_id = agent_option(args.agent) if args.agent is not None else None
    else:
        series_id = args.series_id
        if not series_id or len(series_id) > _SERIES_ID_MAX or not series_id.isprintable():
            raise UsageError(f"SERIES_ID: must be 1 to {_SERIES_ID_MAX} printable characters")
    calendar = await open_calendar(settings)
    try:
        if args.series_command == "list":
            found = await calendar.list_series(agent_id)
        else:
            ended = await calendar.end_series(series_id)
    except (BadRequest, SlotNotFound, TransitionConflict) as exc:
        print(f"error: {refused(exc, 'series call', {}, 'SERIES_ID')}", file=sys.stderr)
        return 1
    finally:
        await calendar.close()
    now = SystemClock().now()
    if args.series_command == "end":
        assert ended.ended_at is not None
        print(
            f"ended series {ended.id} of {ended.agent_id} ({ended.rrule}); no instance after "
            f"{ended.ended_at.astimezone(settings.tz):%Y-%m-%d %H:%M} {settings.tz.key}, "
            "waiting occurrences cancelled",
            file=sys.stderr,
        )
        print(ended.id)
        return 0
    who = f"agent {agent_id}" if agent_id else "all agents"
    print(f"series of {who}: {len(found) or 'none'}")
    if found:
        print(format_series(found, now))
    return 0


def format_series(found: list[Series], now: datetime) -> str:
    """An aligned table: id, agent, state, rule, zone, next three times, title."""
    header = ("ID", "AGENT", "STATE", "RULE", "ZONE", f"NEXT {NEXT_SHOWN}", "TITLE")
    rows = [header]
    for series in found:
        state = "ended" if series.ended_at is not None else "running"
        rows.append(
            (
                series.id,
                series.agent_id,
                state,
                one_line(series.rrule, 60),
                series.timezone,
                _times(next_times(series, now)),
                one_line(series.title, TITLE_SHOWN),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])), row[-1]]).rstrip()
        for row in rows
    )
