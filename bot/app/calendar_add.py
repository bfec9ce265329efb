"""`python -m bot calendar add`: one slot, held to the rules of a REST create (DESIGN §3.2).

The options are read strictly (`bot.app.cli_values`), then the slot body is
built with the very model the server validates, so a bad value is a usage
error naming its option (exit 2) before anything is opened. What only the
calendar can judge (a time more than an hour past, an agent it does not
know) comes back as its refusal, said with the option to change (exit 1);
either way nothing is stored.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bot.app import slot_options
from bot.app.calendar_access import file_agents
from bot.app.cli_actions import add_action
from bot.app.cli_values import UsageError, agent_option, whole_number
from bot.app.settings import Settings
from bot.core.calendar import BadRequest, CalendarError, SlotNotFound
from bot.core.limits import DURATION_MAX, DURATION_MIN, PRIORITY_MAX, PRIORITY_MIN
from bot.core.models import SlotCreate
from bot.presenters.formatting import one_line

#: Longest title shown in `add`'s confirmation.
TITLE_SHOWN = 60
#: Longest part of a calendar's refusal repeated to the person.
DETAIL_SHOWN = 300
_FIELD = re.compile(r"\b([a-z_]+)\b")


def add_add_parser(actions: Any) -> None:
    add = add_action(
        actions,
        "add",
        "add a slot",
        "Add a slot for an agent; prints the new slot's id. The calendar refuses "
        "a slot more than an hour in the past unless --allow-past is given.",
        agent=True,
    )
    slot_options.add_slot_options(add, new=True)
    add.add_argument(
        "--type", dest="slot_type", default="work", help='[a-z0-9_-]{1,32} (default "work")'
    )
    add.add_argument(
        "--repeat",
        metavar="WORD|RRULE",
        help="make a series from the first time on: daily, weekdays, weekly, monthly or an "
        "RRULE such as FREQ=WEEKLY;BYDAY=MO,WE (hourly or coarser)",
    )
    add.add_argument(
        "--allow-past",
        action="store_true",
        help="record a slot more than an hour in the past (it is due at once)",
    )


def slot_fields(
    args: argparse.Namespace, settings: Settings
) -> tuple[dict[str, Any], dict[str, str]]:
    """The slot fields `add`'s options name, each read strictly, and the option of each field."""
    from bot.core.clock import SystemClock

    options = {
        "agent_id": "--agent",
        "scheduled_at": slot_options.when_option(args),
        "estimated_duration_min": "--duration",
        "priority": "--priority",
        "slot_type": "--type",
        "title": "--title",
        "prompt": slot_options.prompt_option(args),
    }
    agent_id = agent_option(args.agent)
    when = slot_options.read_when(args, settings.tz, SystemClock().now())
    fields = {
        "agent_id": agent_id,
        "scheduled_at": when,
        "priority": whole_number(args.priority, "--priority", PRIORITY_MIN, PRIORITY_MAX),
        "estimated_duration_min": whole_number(
            args.duration, "--duration", DURATION_MIN, DURATION_MAX
        ),
        "slot_type": args.slot_type,
        "title": args.title,
        "prompt": slot_options.read_prompt(args),
    }
    return fields, options


async def add(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app.wiring import open_calendar

    tz = settings.tz
    fields, options = slot_fields(args, settings)
    try:
        new = SlotCreate(**fields, allow_past=args.allow_past)
    except ValidationError as exc:
        raise UsageError(options_said(exc, options)) from None
    agents = file_agents(settings) if settings.calendar_opened_here else None
    calendar = await open_calendar(settings, agents=agents)
    try:
        slot = await calendar.create_slot(new)
    except (BadRequest, SlotNotFound) as exc:  # the calendar's refusal: nothing was stored
        print(f"error: {_refusal(exc, options, new, settings)}", file=sys.stderr)
        return 1
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


def options_said(exc: ValidationError, options: Mapping[str, str]) -> str:
    """Each problem under the option that carried the value, without echoing the value."""
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error.get("loc") else "the slot"
        message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
        parts.append(f"{options.get(field, field)}: {message}")
    return "; ".join(parts)


def _refusal(
    exc: CalendarError, options: Mapping[str, str], new: SlotCreate, settings: Settings
) -> str:
    """The calendar's refusal with the option to change first, on one line."""
    if exc.code == "in_the_past":
        local = new.scheduled_at.astimezone(settings.tz)
        return (
            f"{options['scheduled_at']}: {local:%Y-%m-%d %H:%M} {settings.tz.key} is more than "
            "an hour in the past, so the calendar refused it and nothing was added; pass "
            "--allow-past to record it anyway (it is then due at once)"
        )
    detail = one_line(exc.detail, DETAIL_SHOWN)
    if exc.code in ("unknown_agent", "invalid_agent_id"):
        option: str | None = options["agent_id"]
    else:
        named = (options.get(word) for word in _FIELD.findall(exc.detail))
        option = next((found for found in named if found is not None), None)
    said = f"the calendar refused the slot ({detail}); nothing was added"
    return f"{option}: {said}" if option is not None else said
