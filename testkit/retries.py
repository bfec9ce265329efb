"""Retry settings for tests: the clients' own tries, with waits of hundredths of a second.

The calendar client and the spawn webhook wait seconds between tries; a test
that drives them through failures wants the same tries without the waits.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.core.delays import RetrySettings

#: Four tries of at most 10 s each, 10 to 50 ms apart.
QUICK_RETRY = RetrySettings(timeout_s=10.0, attempts=4, backoff_s=0.01, backoff_max_s=0.05)


def quick_retry(**changes: Any) -> RetrySettings:
    """`QUICK_RETRY` with `changes` (field names of `RetrySettings`)."""
    return replace(QUICK_RETRY, **changes)
