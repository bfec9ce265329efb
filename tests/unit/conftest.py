"""The core's fake clock, real embedded calendar and moderator harness, for the reply path tests."""

from tests.core.conftest import calendar, clock, harness

__all__ = ["calendar", "clock", "harness"]
