"""Reading what the calendar server logged about one request, access-log line included.

aiohttp writes its access-log line after the answer is sent, so a test that
checks the log for a secret must wait for that line to land before it reads.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

#: Generous: the access-log line lands at once, but the suite runs on a loaded machine.
ACCESS_LOG_WAIT_S = 30


async def get_and_read_log(
    http: aiohttp.ClientSession, url: str, caplog: pytest.LogCaptureFixture
) -> tuple[int, str]:
    """GET `url`: its status, and every line logged (at DEBUG and up) until its access line."""
    access_logged = asyncio.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            access_logged.set()

    seen = Seen()
    access = logging.getLogger("aiohttp.access")
    access.addHandler(seen)
    try:
        with caplog.at_level(logging.DEBUG):
            async with http.get(url) as resp:
                status = resp.status
            await asyncio.wait_for(access_logged.wait(), ACCESS_LOG_WAIT_S)
    finally:
        access.removeHandler(seen)
    return status, "\n".join(r.getMessage() for r in caplog.records)
