"""What counts as a transient network failure, said once for every edge.

A failure in this tuple may pass on its own (a refused or reset connection, a
timeout, a broken response stream): callers retry it or report "unreachable".
Anything else is a real answer or a bug and is handled as such.
"""

from __future__ import annotations

import aiohttp

TRANSIENT_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    OSError,
    TimeoutError,
)
