"""Sending an ICS file to a served calendar's import (`POST /calendar/ics/{agent_id}`, §10).

The file is streamed from disk, never read whole. An import is not retried:
it is one transaction on the server, and a lost answer is settled by running
the import again, which updates rather than duplicates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from bot.calendar.ics.outcome import ImportOutcome
from bot.calendar.pg.urls import shown_url
from bot.calendar.wire import ICS_PATH, INFO_PATH
from bot.core.calendar import BadRequest, CalendarAuthError, CalendarUnavailable, FeatureMissing
from bot.net import TRANSIENT_NETWORK_ERRORS

_FAILED: tuple[type[BaseException], ...] = (
    *TRANSIENT_NETWORK_ERRORS,
    aiohttp.ContentTypeError,
    ValueError,
)
#: An import of a large file takes a while on the server.
IMPORT_TIMEOUT_S = 300.0


async def upload_ics(base_url: str, token: str | None, agent_id: str, path: Path) -> ImportOutcome:
    """Import `path` for `agent_id` on the calendar at `base_url`; its refusal is raised."""
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{base_url.rstrip('/')}{ICS_PATH}/{agent_id}"
    timeout = aiohttp.ClientTimeout(total=IMPORT_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with path.open("rb") as body:
                async with session.post(url, data=body, headers=headers) as resp:
                    status = resp.status
                    answer: Any = await resp.json(content_type=None)
            if status == 404:  # an API 1 server has no such route (DESIGN §3)
                info = f"{base_url.rstrip('/')}{INFO_PATH}"
                async with session.get(info, headers=headers) as resp:
                    if resp.status == 404:
                        raise FeatureMissing("ICS import")
    except _FAILED as exc:
        raise CalendarUnavailable(
            f"the calendar at {shown_url(base_url)} did not answer: {exc}"
        ) from None
    if not isinstance(answer, dict):
        raise CalendarUnavailable(f"the calendar answered {status} without a JSON object")
    if status == 200:
        skipped = [(str(s.get("event")), str(s.get("reason"))) for s in answer.get("skipped", [])]
        return ImportOutcome(
            int(answer.get("created", 0)),
            int(answer.get("updated", 0)),
            int(answer.get("unchanged", 0)),
            skipped,
        )
    detail = str(answer.get("detail", ""))[:500]
    code = str(answer.get("error", "error"))
    if status == 401:
        raise CalendarAuthError(detail, code=code)
    if 400 <= status < 500:
        raise BadRequest(f"nothing imported: {detail}", code=code)
    raise CalendarUnavailable(f"the calendar answered {status}: {detail}")
