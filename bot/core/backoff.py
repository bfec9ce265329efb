"""When an agent's checks hold back: calendar trouble and failed wakes (DESIGN §4).

Two streaks decide how long a check waits after calendar trouble: the checks in
trouble since the last one that got through, and the claims failing in a row
(only a claim's 200 resets it), so a calendar that answers everything but
claims is retried less and less often, not every few seconds forever. A failed
wake has its own retry, per agent. No I/O here; the scheduler reports what
happened and asks whether it may act.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.core.calendar import CalendarError
from bot.core.rules import calendar_retry_delay, wake_retry_delay

log = logging.getLogger(__name__)


class Backoff:
    """One agent's retry state; `/status` shows the last calendar error and wake streak."""

    def __init__(
        self, agent_id: str, *, check_interval_s: float, wake_base_s: float, wake_max_s: float
    ) -> None:
        self._agent_id = agent_id
        self._interval_s = check_interval_s
        self._wake_base_s = wake_base_s
        self._wake_max_s = wake_max_s
        #: Checks in trouble since the last one that got through; one call answering
        #: proves little when a later step of the same check fails (defer, claim).
        self.calendar_failures = 0
        #: Claims (first or re-sent) failing in a row; only a claim's 200 resets it.
        self.claim_failures = 0
        self.check_retry_at: datetime | None = None
        self.last_calendar_error: str | None = None
        self.last_calendar_error_at: datetime | None = None
        self.wake_failures = 0
        self.wake_retry_at: datetime | None = None
        #: Within one check: whether the calendar failed, and whether it answered something.
        self._troubled = False
        self._answered = False

    # ---- the check's bookkeeping -----------------------------------------

    def begin_check(self) -> None:
        self._troubled = self._answered = False

    def end_check(self) -> None:
        """A check that reached the calendar and got all it asked for ends the trouble.

        For the backoff and for /status alike; a check that asked nothing proves nothing.
        """
        if self._answered and not self._troubled:
            self.calendar_failures = 0
            self.last_calendar_error = None
            self.last_calendar_error_at = None

    def answered(self) -> None:
        """The calendar answered a check's call (a refusal is an answer too)."""
        self._answered = True

    def claim_succeeded(self) -> None:
        self.claim_failures = 0

    def trouble(self, now: datetime, what: str, exc: CalendarError, *, claim: bool) -> None:
        """Back off, and keep the error for /status until a check gets through again."""
        self._troubled = True
        self.last_calendar_error = f"{what}: {type(exc).__name__}: {exc.detail}"
        self.last_calendar_error_at = now
        self.calendar_failures += 1
        if claim:
            self.claim_failures += 1
        streak = max(self.calendar_failures, self.claim_failures if claim else 0)
        delay = calendar_retry_delay(streak, self._interval_s)
        self.check_retry_at = now + timedelta(seconds=delay)
        log.warning(
            "agent %s: calendar failed during the check (%s): %s; next try in %gs",
            self._agent_id,
            what,
            exc.detail,
            delay,
        )

    def hold_for_interval(self, now: datetime) -> None:
        """Something unexpected (a bug, the state file): wait a whole interval, never spin."""
        self.check_retry_at = now + timedelta(seconds=self._interval_s)

    # ---- wakes ----------------------------------------------------------------

    def wake_succeeded(self) -> None:
        self.wake_failures = 0
        self.wake_retry_at = None

    def wake_failed(self, now: datetime) -> float:
        """Count a failed wake and arm its retry; answers the delay in seconds."""
        self.wake_failures += 1
        delay = wake_retry_delay(self.wake_failures, self._wake_base_s, self._wake_max_s)
        self.wake_retry_at = now + timedelta(seconds=delay)
        return delay

    # ---- questions --------------------------------------------------------------

    def calendar_blocked(self, now: datetime) -> bool:
        return self.check_retry_at is not None and now < self.check_retry_at

    def blocked(self, now: datetime) -> bool:
        return self.calendar_blocked(now) or (
            self.wake_retry_at is not None and now < self.wake_retry_at
        )

    def blocked_until(self, now: datetime) -> datetime | None:
        """The later of the two retries still ahead of `now`, if any."""
        return max(
            (t for t in (self.wake_retry_at, self.check_retry_at) if t is not None and t > now),
            default=None,
        )
