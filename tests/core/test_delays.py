"""`retry_delay`: every retry delay of the project, doubling, capped, jittered when asked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.delays import Jitter, retry_delay


def test_doubling_from_the_base_up_to_the_cap() -> None:
    delays = [retry_delay(n, base_s=5, max_s=60) for n in range(1, 7)]
    assert delays == [5, 10, 20, 40, 60, 60]


@pytest.mark.parametrize("failures", [0, -1, -(2**63)])
def test_no_failure_yet_counts_as_the_first(failures: int) -> None:
    assert retry_delay(failures, base_s=3, max_s=100) == 3


@pytest.mark.parametrize("failures", [64, 1100, 10**6, 2**63])
@pytest.mark.parametrize("jitter", list(Jitter))
def test_a_huge_streak_stays_at_the_cap_without_overflow(failures: int, jitter: Jitter) -> None:
    delay = retry_delay(failures, base_s=0.5, max_s=30, jitter=jitter)
    assert 0 <= delay <= 30
    if jitter is Jitter.NONE:
        assert delay == 30


def test_a_zero_base_never_waits() -> None:
    assert retry_delay(5, base_s=0, max_s=30) == 0


@given(
    st.integers(1, 40),
    st.floats(0.001, 100, allow_nan=False),
    st.floats(0.001, 10_000, allow_nan=False),
)
def test_jitter_stays_within_its_share_of_the_ceiling(
    failures: int, base_s: float, max_s: float
) -> None:
    ceiling = retry_delay(failures, base_s=base_s, max_s=max_s)
    assert ceiling <= max_s
    equal = retry_delay(failures, base_s=base_s, max_s=max_s, jitter=Jitter.EQUAL)
    assert ceiling / 2 - 1e-9 <= equal <= ceiling + 1e-9
    full = retry_delay(failures, base_s=base_s, max_s=max_s, jitter=Jitter.FULL)
    assert 0 <= full <= ceiling + 1e-9


def test_jittered_delays_differ_between_clients() -> None:
    for jitter in (Jitter.EQUAL, Jitter.FULL):
        drawn = {retry_delay(4, base_s=1, max_s=60, jitter=jitter) for _ in range(50)}
        assert len(drawn) > 1
