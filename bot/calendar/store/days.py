"""A calendar day as the store reads it: its instants and its ETag (`GET /calendar/day`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.calendar.store.rows import to_us
from bot.core.models import Slot


def day_bounds(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """The [start, end) of a local day in epoch microseconds.

    Built from local midnights, so a 23- or 25-hour DST day is covered exactly.
    """
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return to_us(start), to_us(end)


def day_etag(day: date, slots: Iterable[Slot]) -> str:
    """The day's ETag: a hash over the date and each slot's (id, version, status), quoted per HTTP.

    The status is in it because an untouched occurrence of a series keeps the series'
    version when it comes to read as superseded (`bot.calendar.store.occurrences`).
    """
    keys = sorted((slot.id, slot.version, slot.status.value) for slot in slots)
    text = day.isoformat() + "|" + ";".join(f"{sid}:{ver}:{status}" for sid, ver, status in keys)
    return '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] + '"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip('"')


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an `If-None-Match` value (one tag, a list, or `*`) names `etag` (weak compare)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(part) == wanted for part in if_none_match.split(",") if part.strip())
