"""An agent's ICS feed address for `/schedule feed:true` and `/plan` (admins, ephemeral)."""

from __future__ import annotations

from bot.discord_io.client import ModeratorBot


def feed_url(bot: ModeratorBot, agent_id: str) -> str | None:
    """The agent's feed address with its feed token, or None when no server serves it."""
    links = bot.options.feed_links
    return None if links is None else links.url(bot.moderator.agent(agent_id))
