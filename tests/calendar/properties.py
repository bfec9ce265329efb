"""What the calendar's property tests share beyond the suite's Hypothesis profile."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import HealthCheck, settings


def replayable(max_examples: int, suppress: Sequence[HealthCheck] = tuple(HealthCheck)) -> settings:
    """The same examples on every run and machine, none saved between runs: a failure found
    in CI is the one a developer sees, and no example database litters the tree. No deadline:
    each example opens a calendar, whose time depends on the machine's load."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(suppress),
    )
