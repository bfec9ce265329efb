"""Every retry delay of the project, from one place, with tenacity's arithmetic.

The scheduler's calendar and wake retries (`bot.core.rules`), the change
feed's reconnects, the calendar client's and the spawn webhook's retries all
ask `retry_delay`: doubling from a base per failure in a row, capped, and
jittered where many clients would otherwise retry in step. The arithmetic is
tenacity's wait strategies (`wait_exponential`, `wait_random_exponential`),
called here as pure functions of the failure count, so a delay without jitter
is the same every time and the scheduler's retries are exact under the fake
clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.wait import wait_base

#: tenacity's wait strategies read only the attempt number of a call state.
_NO_RETRYING = Retrying()


class Jitter(Enum):
    """How much of a delay is left to chance."""

    #: None: the same delay every time (the scheduler's retries).
    NONE = "none"
    #: Half fixed, half random: never sooner than half, and not all clients at once.
    EQUAL = "equal"
    #: Anywhere from 0 to the ceiling: many clients retrying one server spread out.
    FULL = "full"


def retry_delay(
    failures: int, *, base_s: float, max_s: float, jitter: Jitter = Jitter.NONE
) -> float:
    """Seconds to wait after `failures` in a row (1 and less: the first): `base_s` doubling
    per failure, at most `max_s`, with `jitter` (a fixed delay unless asked)."""
    state = RetryCallState(_NO_RETRYING, None, (), {})
    state.attempt_number = max(failures, 1)
    return _strategy(base_s, max_s, jitter)(state)


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """How a client retries one request (the calendar client's, the spawn webhook's): each
    try bounded by `timeout_s`, at most `attempts` tries, waits doubling from `backoff_s`
    up to `backoff_max_s`. Tests shorten them with `dataclasses.replace`."""

    timeout_s: float
    attempts: int
    backoff_s: float
    backoff_max_s: float

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.timeout_s <= 0 or self.backoff_s < 0 or self.backoff_max_s < 0:
            raise ValueError("the timeout must be positive and the backoffs not negative")

    def delay(self, failures: int, jitter: Jitter = Jitter.NONE) -> float:
        """The wait after `failures` tries in a row failed (`retry_delay` with these bounds)."""
        return retry_delay(failures, base_s=self.backoff_s, max_s=self.backoff_max_s, jitter=jitter)

    def retrying(
        self,
        on: type[BaseException] | tuple[type[BaseException], ...],
        wait: Callable[[RetryCallState], float] | None = None,
        **options: Any,
    ) -> AsyncRetrying:
        """tenacity's loop for one request: at most `attempts` tries, another only after
        `on`, waiting `wait` (default: `delay`, no jitter); `options` go to tenacity."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait or (lambda state: self.delay(state.attempt_number)),
            retry=retry_if_exception_type(on),
            **options,
        )


def _strategy(base_s: float, max_s: float, jitter: Jitter) -> wait_base:
    if jitter is Jitter.FULL:
        return wait_random_exponential(multiplier=base_s, max=max_s)
    if jitter is Jitter.EQUAL:
        half_base, half_max = base_s / 2, max_s / 2
        return wait_exponential(multiplier=half_base, max=half_max) + wait_random_exponential(
            multiplier=half_base, max=half_max
        )
    return wait_exponential(multiplier=base_s, max=max_s)
