"""End-to-end fixtures: the real bot (in-process or `python -m bot`) against the fake Discord."""

from testkit.fakediscord.fixtures import fake_discord, make_fake_discord
from tests.e2e.harness import bot_processes, make_moderator_bot, moderator_bot, spawn_receiver

__all__ = [
    "bot_processes",
    "fake_discord",
    "make_fake_discord",
    "make_moderator_bot",
    "moderator_bot",
    "spawn_receiver",
]
