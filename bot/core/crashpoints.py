"""Test-only crash points: make `python -m bot` die by SIGKILL at a named step of a wake.

The promise "a restart never wakes a slot twice and never loses one" is only
worth something if it is tested against real crashes at the worst moments, not
against a process that politely shuts down. The wake path calls
`crash_point("<name>")` between its steps; when the environment variable
`MODERATOR_CRASH_AT` names that point (a comma-separated list is allowed), the
process logs one CRITICAL line and sends itself SIGKILL: no `finally`, no
shutdown hooks, no flush of anything but that line, just like a power cut or
the OOM killer.

The points, in the order a wake reaches them:

* `after_intent`: the wake ledger holds the intent, the calendar claim
  (`start`) has not been sent;
* `after_claim`: the calendar answered the claim, the ledger does not know yet
  and no waker has run;
* `after_channel`: the private channel exists and its link is saved, the wake
  message is not posted;
* `after_message`: the wake was delivered (Discord message posted, or the spawn
  webhook/command succeeded), its message id / the wake result is not recorded.

Never set it in production. When unset the check is one membership test on an
empty frozenset, so the calls cost nothing worth measuring.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from typing import Final

log = logging.getLogger(__name__)

ENV_VAR: Final = "MODERATOR_CRASH_AT"
CRASH_POINTS: Final = frozenset({"after_intent", "after_claim", "after_channel", "after_message"})

_armed: frozenset[str] | None = None


def armed_points() -> frozenset[str]:
    """The points `MODERATOR_CRASH_AT` names, read from the environment once and cached."""
    global _armed
    if _armed is None:
        raw = os.environ.get(ENV_VAR, "")
        names = frozenset(part.strip() for part in raw.split(",") if part.strip())
        unknown = sorted(names - CRASH_POINTS)
        if unknown:
            # A typo would otherwise make a crash test pass without ever crashing.
            log.warning(
                "%s names unknown crash point(s) %s; known: %s",
                ENV_VAR,
                ", ".join(unknown),
                ", ".join(sorted(CRASH_POINTS)),
            )
        if names & CRASH_POINTS:
            log.warning(
                "%s=%s is set: this process kills itself at %s (a test-only switch)",
                ENV_VAR,
                raw,
                ", ".join(sorted(names & CRASH_POINTS)),
            )
        _armed = names
    return _armed


def crash_point(name: str) -> None:
    """Die here by SIGKILL if `MODERATOR_CRASH_AT` names `name`; otherwise do nothing."""
    if name in armed_points():
        _die(name)


def _die(name: str) -> None:
    log.critical("crash point %s reached (%s)", name, ENV_VAR)
    # The line is a courtesy to whoever reads the log; the crash is the point.
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
