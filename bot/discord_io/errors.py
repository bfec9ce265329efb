"""How a Discord call fails, said once for the bot, the waker and the cogs.

Two kinds: Discord answered and refused (`discord.HTTPException`, with a status,
an error code and a body worth logging), or Discord never answered (the
transient network errors of `bot.net`). Callers that treat both alike catch
`DISCORD_FAILURES` and log `describe_failure(exc)`.
"""

from __future__ import annotations

import discord

from bot.net import TRANSIENT_NETWORK_ERRORS


class WakeError(Exception):
    """A wake step failed for a reason a person can act on; the text says which."""


#: A refusal from Discord or no answer at all: what a best-effort Discord call may meet.
DISCORD_FAILURES: tuple[type[BaseException], ...] = (
    discord.HTTPException,
    *TRANSIENT_NETWORK_ERRORS,
)


def http_detail(exc: discord.HTTPException) -> str:
    """Discord's refusal on one line: status, error code and the (shortened) body."""
    text = " ".join(str(exc.text).split())[:300]
    return f"HTTP {exc.status}, Discord code {exc.code}: {text}" if text else f"HTTP {exc.status}"


def describe_failure(exc: BaseException) -> str:
    """Why a Discord call failed, for the log: Discord's answer, or the kind of network error."""
    if isinstance(exc, discord.HTTPException):
        return http_detail(exc)
    return type(exc).__name__
