"""Command-line parsing for `python -m bot`; each sub-command lives in the module it drives."""

from __future__ import annotations

import argparse
import sys

from bot.app.errors import ConfigError
from bot.core.sqlite_file import DatabaseFileError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="calendar-moderator: wakes AI agents on Discord on time, from a calendar.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run the moderator (the default)")
    sub.add_parser("check-config", help="validate the configuration and print what is enabled")
    demo = sub.add_parser("demo", help="a self-contained run for newcomers, no token needed")
    demo.add_argument("--agents", type=int, default=3, help="how many simulated agents")
    demo.add_argument("--seconds", type=float, default=20.0, help="how long the demo may run")

    from bot.app.calendar_cli import add_calendar_parser

    add_calendar_parser(sub)
    return parser


def run(argv: list[str]) -> int:
    if argv[:1] in ([], ["run"]) or argv[:2] == ["calendar", "serve"]:
        from bot.app.shutdown import held_stop_signals

        # The commands that run until stopped hold the stop signals before the parser's and
        # their own imports (~0.5 s): a stop then is a stop.
        with held_stop_signals():
            return _run_command(argv)
    return _run_command(argv)


def _run_command(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in (None, "run"):
            from bot.app.runner import run_bot

            return run_bot()
        if args.command == "check-config":
            from bot.app.checkconfig import check_config

            return check_config()
        if args.command == "demo":
            from bot.app.demo import run_demo

            return run_demo(agents=args.agents, seconds=args.seconds)
        if args.command == "calendar":
            from bot.app.calendar_cli import run_calendar_command

            return run_calendar_command(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DatabaseFileError as exc:  # a calendar command's file (DESIGN §4): never a traceback
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    parser.print_help()
    return 2
