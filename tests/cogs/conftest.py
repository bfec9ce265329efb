"""Slash-command tests: the real ModeratorBot (with the command cogs) against the fake Discord."""

from testkit.fakediscord.fixtures import fake_discord, make_fake_discord
from tests.e2e.harness import make_moderator_bot, moderator_bot

__all__ = ["fake_discord", "make_fake_discord", "make_moderator_bot", "moderator_bot"]
