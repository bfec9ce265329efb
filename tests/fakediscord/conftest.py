"""Fixtures for the fake Discord's own tests (other areas import them the same way)."""

from testkit.fakediscord.fixtures import fake_discord, make_fake_discord

__all__ = ["fake_discord", "make_fake_discord"]
