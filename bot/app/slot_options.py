"""The options `calendar add` and `calendar edit` share: a slot's time (`--at` or `--in`),
title, prompt (`--prompt` or `--prompt-file`), priority and duration, declared (and the time
and prompt read) in one place so that a slot is timed and prompted, and refused, the same way
whether it is made or changed."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.app.cli_values import moment_after, parse_at, parse_delay, read_prompt_file


def add_slot_options(parser: Any, *, new: bool) -> None:
    """The shared options, in the order their help lists them: a new slot must be timed,
    titled and prompted, and has a priority and a duration by default; an edit changes
    only what it is given."""
    add_when_options(parser, required=new, what="when" if new else "move to")
    parser.add_argument("--title", required=new, help="at most 200 characters")
    add_prompt_options(parser, required=new)
    priority, duration = ("50", "30") if new else (None, None)
    parser.add_argument(
        "--priority", default=priority, help=_with_default("0..100, higher first", priority)
    )
    parser.add_argument(
        "--duration", default=duration, help=_with_default("estimated minutes, 1..10080", duration)
    )


def _with_default(summary: str, default: str | None) -> str:
    return summary if default is None else f"{summary} (default {default})"


def add_when_options(parser: Any, *, required: bool, what: str) -> None:
    """`--at` or `--in`, one of them; `what` starts their help ("when", "move to")."""
    when = parser.add_mutually_exclusive_group(required=required)
    when.add_argument(
        "--at",
        help=f"{what}: YYYY-MM-DDTHH:MM[:SS][+HH:MM] (no offset = in TIMEZONE) or HH:MM today",
    )
    when.add_argument(
        "--in", dest="in_", metavar="DELAY", help=f"{what}: from now, e.g. 90s, 10m, 2h"
    )


def add_prompt_options(parser: Any, *, required: bool) -> None:
    prompt = parser.add_mutually_exclusive_group(required=required)
    prompt.add_argument("--prompt", help="what the agent is asked to do (at most 16000 chars)")
    prompt.add_argument(
        "--prompt-file", metavar="FILE", help="the prompt from a UTF-8 file (- = standard input)"
    )


def when_option(args: argparse.Namespace) -> str:
    """The option that gave the time, for naming it in a refusal."""
    return "--in" if args.in_ is not None else "--at"


def read_when(args: argparse.Namespace, tz: ZoneInfo, now: datetime) -> datetime | None:
    """The time `--in` or `--at` gives, None when neither was given."""
    if args.in_ is not None:
        return moment_after(now, parse_delay(args.in_))
    if args.at is not None:
        return parse_at(args.at, tz, now)
    return None


def prompt_option(args: argparse.Namespace) -> str:
    """The option that gave the prompt, for naming it in a refusal."""
    return "--prompt-file" if args.prompt_file is not None else "--prompt"


def read_prompt(args: argparse.Namespace) -> str | None:
    """The prompt `--prompt-file` or `--prompt` gives, None when neither was given."""
    if args.prompt_file is not None:
        return read_prompt_file(args.prompt_file)
    given: str | None = args.prompt
    return given
