"""Entry point: `python -m bot` and its sub-commands (DESIGN §9)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from bot.app.cli import run

    code: int = run(sys.argv[1:] if argv is None else argv)
    return code


def command(argv: list[str] | None = None) -> int:
    """`python -m bot` and the installed `calendar-moderator`: a process that ends with the
    command, so a stop signal during its exit is ignored, not fatal (see `bot.app.shutdown`);
    `main` alone is for a run inside another program (a test's), which keeps its handlers."""
    from bot.app.shutdown import ignore_stop_signals_at_exit

    ignore_stop_signals_at_exit()
    return main(argv)


if __name__ == "__main__":
    sys.exit(command())
