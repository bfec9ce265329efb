"""Where discord.py talks to: `DISCORD_API_BASE` and `DISCORD_GATEWAY_URL` (DESIGN §5).

discord.py has no per-client setting for either; the only knobs are two class
attributes, `discord.http.Route.BASE` (every REST route is built from it) and
`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` (the first connect and every
non-resumable reconnect go there; a resume follows READY's
`resume_gateway_url`). They are process-wide, so this module owns them: set
them once before the client logs in, and tests put the defaults back after.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl

_DEFAULT_API_BASE: str = discord.http.Route.BASE
_DEFAULT_GATEWAY: yarl.URL = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def point_discord_at(api_base: str, gateway_url: str) -> None:
    """Send discord.py's REST calls to `api_base` and its gateway connects to `gateway_url`.

    Idempotent. `api_base` is the versioned REST root (e.g. `https://discord.com/api/v10`);
    a trailing slash is dropped because discord.py appends paths that start with one.
    """
    base = api_base.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"Discord API base must be an http(s) URL, got {api_base!r}")
    gateway = yarl.URL(gateway_url)
    if gateway.scheme not in ("ws", "wss") or not gateway.host:
        raise ValueError(f"Discord gateway URL must be a ws(s) URL, got {gateway_url!r}")
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


def current_discord_endpoints() -> tuple[str, str]:
    """The REST base and gateway URL discord.py will use now."""
    return discord.http.Route.BASE, str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


def restore_discord_defaults() -> None:
    """Put back the endpoints discord.py had when this module was imported (for tests)."""
    discord.http.Route.BASE = _DEFAULT_API_BASE
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = _DEFAULT_GATEWAY
