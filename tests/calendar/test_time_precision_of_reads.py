"""From a review of the day's changes to the calendar's contract: a time finer than a microsecond.

`bot.core.limits.Instant` now takes at most 6 digits of a second (a write is kept exactly
or refused). It is also what reads the range query's `from` and `to`, and
docs/calendar-api.yaml's `Time` (the schema of both, and of every written time) still
allows 9 digits. So a client that formats its times as RFC 3339 with nanoseconds (Go's
`time.RFC3339Nano`), as the document allows, is refused a plain read it got before (an
answer truncated to the microsecond, exact for slots stored to the microsecond), with a
400 `bad_time` whose text gives the same example as the time it refused.

The review's failing tests; each passes since its fix.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from pydantic import ValidationError

from bot.core.models import SlotCreate
from tests.calendar.conftest import Served
from tests.calendar.test_openapi import spec, validator

# The document's fixture.
__all__ = ["spec"]

#: RFC 3339 with nanoseconds, as Go's `time.RFC3339Nano` writes it.
NANOSECONDS = "2026-01-05T09:00:00.123456789+01:00"
LATER = "2026-01-06T09:00:00.987654321+01:00"


def _server_takes(time: str) -> bool:
    try:
        SlotCreate.model_validate({"agent_id": "alice", "scheduled_at": time, "allow_past": True})
    except ValidationError:
        return False
    return True


def test_the_documented_time_is_the_time_the_server_takes(spec: dict[str, Any]) -> None:
    documented = validator(spec, "Time").is_valid(NANOSECONDS)
    assert documented == _server_takes(NANOSECONDS), (documented, NANOSECONDS)


async def test_a_range_read_with_nanosecond_bounds_is_answered(
    serve: Any, http: aiohttp.ClientSession
) -> None:
    served: Served = await serve()
    query = {"agent_id": "alice", "from": NANOSECONDS, "to": LATER}
    async with http.get(f"{served.base_url}/calendar/slots", params=query) as resp:
        answer = await resp.json()
    assert resp.status == 200, answer
    assert answer == {"slots": []}
