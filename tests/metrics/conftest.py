"""The metrics tests run the real core (fake clock, embedded calendar) and the fake Discord."""

from testkit.fakediscord.fixtures import fake_discord, make_fake_discord
from tests.core.conftest import calendar, clock, harness
from tests.e2e.harness import make_moderator_bot

__all__ = [
    "calendar",
    "clock",
    "fake_discord",
    "harness",
    "make_fake_discord",
    "make_moderator_bot",
]
