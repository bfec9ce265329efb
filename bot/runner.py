"""Running the moderator (`python -m bot`)."""

from __future__ import annotations

import sys


def run_bot() -> int:
    print(
        "The moderator's run loop is not built yet; try `python -m bot calendar --help`.",
        file=sys.stderr,
    )
    return 0
