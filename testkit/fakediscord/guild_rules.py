"""What Discord's side decides for the fake guild, apart from its members and channels."""

from __future__ import annotations

from dataclasses import dataclass

from testkit.fakediscord.wire.intents import MESSAGE_CONTENT


@dataclass
class GuildRules:
    """The developer portal's privileged intents, Discord's deadlines and caps.

    Given to `FakeDiscord(...)` as keyword arguments (`FakeDiscord(guild_channel_limit=3)`)
    and held as `fake.rules`; a test may change one at any moment (`fake.rules.x = ...`)
    and the fake answers by it from the next request on.
    """

    privileged_intents: int = MESSAGE_CONTENT
    #: seconds an interaction may go unanswered before its token is refused
    interaction_deadline: float = 3.0
    heartbeat_interval_ms: int = 41250
    category_channel_limit: int = 50
    guild_channel_limit: int = 500
