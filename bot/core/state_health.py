"""Whether the state file takes this agent's writes: for `/status` and the health check.

A refused write is logged and scheduling goes on (a wake intent that cannot be written
holds the claim back, DESIGN §5), so without this a full disk showed only as error lines
while `/status` called the agent healthy and nothing was woken.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import datetime

from bot.core.state import StateError

log = logging.getLogger(__name__)


class StateHealth:
    """The last refused write, until a write goes through again."""

    def __init__(self) -> None:
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None

    def failed(self, exc: StateError, now: datetime) -> None:
        self.last_error, self.last_error_at = str(exc), now

    def worked(self) -> None:
        self.last_error = self.last_error_at = None

    async def guard(self, write: Awaitable[object], now: datetime, agent_id: str) -> None:
        """Run `write`; a refusal is logged and kept, not raised."""
        try:
            await write
        except StateError as exc:
            log.error("agent %s: %s", agent_id, exc)
            self.failed(exc, now)
        else:
            self.worked()
