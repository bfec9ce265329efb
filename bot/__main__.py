"""Entry point: `python -m bot` and its sub-commands (DESIGN §9)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from bot.app.cli import run

    code: int = run(sys.argv[1:] if argv is None else argv)
    return code


if __name__ == "__main__":
    from bot.app.shutdown import ignore_stop_signals_at_exit

    ignore_stop_signals_at_exit()  # this process ends with the command
    sys.exit(main())
