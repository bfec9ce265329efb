"""An agent's ICS feed address, with its feed token, for people to paste into a calendar app.

The feed is served by a calendar server (DESIGN §10), so there is an address
only when one serves the calendar the moderator uses: `CALENDAR_URL` when it
is `http(s)://…`, else `CALENDAR_LISTEN` (the bot serves its calendar there,
§8). The token is the agent's feed token (§3.3): it reads that feed and
nothing else, so it may sit in a calendar app's settings.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from urllib.parse import quote

from bot.calendar.wire import ICS_PATH
from bot.core.agents import AgentConfig
from bot.core.tokens import TokenKind, derive_token

_EVERY_INTERFACE = frozenset({"", "0.0.0.0", "::", "[::]"})


@dataclass(frozen=True, slots=True)
class FeedLinks:
    """Where feeds are served (None: nowhere) and the secret their tokens derive from."""

    base_url: str | None
    secret: str | None = field(default=None, repr=False)

    def url(self, agent: AgentConfig) -> str | None:
        """The agent's feed address, its feed token included when the server has a token."""
        if self.base_url is None:
            return None
        address = f"{self.base_url}{ICS_PATH}/{agent.id}"
        if not self.secret:
            return address
        token = derive_token(self.secret, TokenKind.FEED, agent.id, agent.token_generation)
        return f"{address}?token={quote(token, safe='')}"


def feed_base(calendar_url: str, listen: tuple[str, int] | None) -> str | None:
    """The calendar server's base address, or None when no server serves this calendar."""
    if calendar_url.lower().startswith(("http://", "https://")):
        return calendar_url.rstrip("/")
    if listen is None:
        return None
    host, port = listen
    if host in _EVERY_INTERFACE:
        host = socket.getfqdn()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
