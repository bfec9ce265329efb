"""What counts as a transient network failure, and who closes a session: said once for every edge.

A failure in this tuple may pass on its own (a refused or reset connection, a
timeout, a broken response stream): callers retry it or report "unreachable".
Anything else is a real answer or a bug and is handled as such.
"""

from __future__ import annotations

from typing import Any

import aiohttp

TRANSIENT_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    OSError,
    TimeoutError,
)


class OwnedSession:
    """An aiohttp session made on first use unless the caller gave one.

    A given session is the giver's: it is used as it is and never closed here.
    One made here is remade if it was closed, and closed by `close()`. Both HTTP
    edges (the calendar client and the spawn webhook) hold one, so a test or an
    embedding program can share its own session with them.
    """

    def __init__(self, session: aiohttp.ClientSession | None = None, **options: Any) -> None:
        self._session = session
        self._owned = session is None
        self._options = options

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owned and self._session.closed):
            self._session = aiohttp.ClientSession(**self._options)
            self._owned = True
        return self._session

    async def close(self) -> None:
        if self._owned and self._session is not None and not self._session.closed:
            await self._session.close()
