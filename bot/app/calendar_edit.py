"""`python -m bot calendar edit|cancel`: change or withdraw a planned slot (DESIGN §3, §9).

The options are read as strictly as `add`'s, and the edit is built with the
model the server validates (`SlotEdit`, `TransitionRequest`), so a bad value is
one line naming its option (exit 2) before the calendar is opened. What only
the calendar can judge (the slot is running or ended, `--expected-version` is
stale, the id is unknown) is its refusal, said on one line (exit 1); either
way nothing is changed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import ValidationError

from bot.app import slot_options
from bot.app.calendar_add import DETAIL_SHOWN, TITLE_SHOWN, options_said
from bot.app.cli_actions import add_action
from bot.app.cli_values import UsageError, whole_number
from bot.app.settings import Settings
from bot.core.calendar import (
    BadRequest,
    Calendar,
    CalendarError,
    SlotNotFound,
    TransitionConflict,
)
from bot.core.limits import DURATION_MAX, DURATION_MIN, PRIORITY_MAX, PRIORITY_MIN
from bot.core.models import Action, Slot, SlotEdit, TransitionRequest
from bot.presenters.formatting import one_line

#: Highest `--expected-version` read (the wire allows 2**53; twelve digits are never reached).
VERSION_MAX = 10**12 - 1
_SLOT_ID_MAX = 200


def add_edit_parsers(actions: Any) -> None:
    edit = add_action(
        actions,
        "edit",
        "change or move a planned slot",
        "Change a NOT_STARTED or DEFERRED slot (a move makes a deferred slot due "
        "again); a running or ended slot cannot be edited. Give at least one change.",
        slot_id=True,
    )
    slot_options.add_slot_options(edit, new=False)
    edit.add_argument(
        "--expected-version", metavar="N", help="refuse if the slot changed since version N"
    )
    cancel = add_action(
        actions,
        "cancel",
        "withdraw a planned slot",
        "Cancel a NOT_STARTED or DEFERRED slot (final; it is never woken). "
        "A running slot is aborted by its agent instead.",
        slot_id=True,
    )
    cancel.add_argument("--note", help="why, kept with the slot (at most 16000 characters)")


def _slot_id(text: str) -> str:
    if not text or len(text) > _SLOT_ID_MAX or not text.isprintable():
        raise UsageError(f"SLOT_ID: must be 1 to {_SLOT_ID_MAX} printable characters")
    return text


async def edit(args: argparse.Namespace, settings: Settings) -> int:
    from bot.core.clock import SystemClock

    slot_id = _slot_id(args.slot_id)
    fields: dict[str, Any] = {}
    options = {
        "scheduled_at": slot_options.when_option(args),
        "prompt": slot_options.prompt_option(args),
    }
    when = slot_options.read_when(args, settings.tz, SystemClock().now())
    if when is not None:
        fields["scheduled_at"] = when
    if args.title is not None:
        fields["title"] = args.title
    prompt = slot_options.read_prompt(args)
    if prompt is not None:
        fields["prompt"] = prompt
    if args.priority is not None:
        fields["priority"] = whole_number(args.priority, "--priority", PRIORITY_MIN, PRIORITY_MAX)
    if args.duration is not None:
        fields["estimated_duration_min"] = whole_number(
            args.duration, "--duration", DURATION_MIN, DURATION_MAX
        )
    if args.expected_version is not None:
        fields["expected_version"] = whole_number(
            args.expected_version, "--expected-version", 0, VERSION_MAX
        )
    options |= {
        "title": "--title",
        "priority": "--priority",
        "estimated_duration_min": "--duration",
        "expected_version": "--expected-version",
    }
    if not set(fields) - {"expected_version"}:
        raise UsageError(
            "edit: nothing to change; give --at/--in, --title, --prompt, --priority or --duration"
        )
    try:
        change = SlotEdit(**fields)
    except ValidationError as exc:
        raise UsageError(options_said(exc, options)) from None
    return await _change(
        settings, "edit", options, lambda calendar: calendar.edit_slot(slot_id, change)
    )


async def cancel(args: argparse.Namespace, settings: Settings) -> int:

    slot_id = _slot_id(args.slot_id)
    try:
        request = TransitionRequest(note=args.note)
    except ValidationError as exc:
        raise UsageError(options_said(exc, {"note": "--note"})) from None
    return await _change(
        settings,
        "cancel",
        {"note": "--note"},
        lambda calendar: calendar.transition(slot_id, Action.CANCEL, note=request.note),
    )


async def _change(
    settings: Settings,
    what: str,
    options: Mapping[str, str],
    call: Callable[[Calendar], Awaitable[Slot]],
) -> int:
    """Open the calendar, make one change, say what it did (exit 0) or why not (exit 1)."""
    from bot.app.wiring import open_calendar

    calendar = await open_calendar(settings)
    try:
        slot = await call(calendar)
    except (BadRequest, SlotNotFound, TransitionConflict) as exc:
        print(f"error: {refused(exc, what, options)}", file=sys.stderr)
        return 1
    finally:
        await calendar.close()
    done = {"edit": "edited", "cancel": "cancelled"}[what]
    print(f"{done} {_said(slot, settings)}", file=sys.stderr)
    print(slot.id)
    return 0


def _said(slot: Slot, settings: Settings) -> str:
    local = slot.scheduled_at.astimezone(settings.tz)
    return (
        f"slot {slot.id} of {slot.agent_id} at {local:%Y-%m-%d %H:%M} {settings.tz.key} "
        f"({slot.status.value}, version {slot.version}): {one_line(slot.title, TITLE_SHOWN)}"
    )


def refused(
    exc: CalendarError, what: str, options: Mapping[str, str], id_name: str = "SLOT_ID"
) -> str:
    """The calendar's refusal on one line, with the option to change first when there is one."""
    detail = one_line(exc.detail, DETAIL_SHOWN)
    said = f"the calendar refused the {what} ({detail}); nothing was changed"
    if exc.code == "version_mismatch" and "expected_version" in options:
        return f"{options['expected_version']}: {said}"
    if exc.code == "not_found":
        return f"{id_name}: {said}"
    named = next((options[word] for word in options if word in exc.detail), None)
    return f"{named}: {said}" if named is not None and exc.code == "validation_error" else said
