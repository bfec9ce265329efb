"""The input rules of DESIGN §3.2, each said once: the field types every write is held to.

`models` builds the write bodies (`SlotCreate`, `TransitionRequest`, ...) from
these types, so the REST server, the embedded store, the CLI and Discord refuse
the same things with the same words. Rules that need the calendar's context
(its zone, its clock, its agents) are in `bot.core.validation`.

Types are strict: an integer is an int (not `"50"`, not `true`), a time is an
aware `datetime` or an RFC 3339 string with an offset (not an epoch number).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, Strict

PRIORITY_MIN, PRIORITY_MAX = 0, 100
DURATION_MIN, DURATION_MAX = 1, 10080
TITLE_MAX = 200
PROMPT_MAX = 16_000
#: A transition's note: as long as a prompt, no longer.
NOTE_MAX = PROMPT_MAX
SLOT_TYPE_PATTERN = r"^[a-z0-9_-]{1,32}$"
EVENT_DATA_MAX_BYTES = 16 * 1024
EVENT_DATA_MAX_DEPTH = 16
#: A request body nested deeper than this is refused before it is looked at (400).
BODY_MAX_DEPTH = 64
#: A request body larger than this is refused unread (413).
BODY_MAX_BYTES = 1024 * 1024
#: Slot ids, Idempotency-Keys and the like: longer is not an id.
ID_MAX = 200
#: Every instant the calendar keeps lies in these years, in UTC and in the calendar's zone.
YEAR_MIN, YEAR_MAX = 1970, 9998
#: The longest range `GET /calendar/slots?from=&to=` answers (a quarter, DESIGN §3).
RANGE_MAX_DAYS = 92
#: The most wall times a series may leave out (`exdates`, DESIGN §3.1).
EXDATES_MAX = 1000
#: The longest RRULE value a series may carry.
RRULE_MAX = 500
#: A series' local wall time as given ("YYYY-MM-DDTHH:MM[:SS]"); its form is checked with the rule.
WALL_TIME_MAX = 19
#: A create this far in the past is refused unless it says `allow_past`.
PAST_GRACE_S = 3600

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$"
)


def json_depth(value: Any) -> int:
    """How deeply `value` nests (a scalar is 0, `{}` and `[]` are 1); iterative, so never a
    RecursionError however deep the input is."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _instant(value: Any) -> Any:
    """An RFC 3339 string or an aware `datetime`; anything else (an epoch number) is refused."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(
            "must be an RFC 3339 time with an offset and at most microseconds (6 digits of a "
            "second, what is kept), e.g. 2026-01-05T09:00:00+01:00"
        )
    return value


def _in_years(value: datetime) -> datetime:
    try:
        year = value.astimezone(UTC).year
    except OverflowError:  # beyond datetime's own years once in UTC
        year = YEAR_MAX + 1
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise ValueError(f"must lie between the years {YEAR_MIN} and {YEAR_MAX} (UTC)")
    return value


def _plain_event_data(value: dict[str, Any]) -> dict[str, Any]:
    if json_depth(value) > EVENT_DATA_MAX_DEPTH:
        raise ValueError(f"must nest at most {EVENT_DATA_MAX_DEPTH} deep")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"must be plain JSON ({exc})") from None
    if len(text.encode("utf-8", "surrogatepass")) > EVENT_DATA_MAX_BYTES:
        raise ValueError(f"must be at most {EVENT_DATA_MAX_BYTES} bytes as JSON")
    return value


def _no_nul(value: str) -> str:
    """PostgreSQL's text cannot hold U+0000 at all: refused alike on every store, so what
    SQLite keeps never fails on another (and a C-string consumer is never cut short)."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (U+0000)")
    return value


Text = AfterValidator(_no_nul)
Instant = Annotated[AwareDatetime, BeforeValidator(_instant), AfterValidator(_in_years)]
Priority = Annotated[int, Strict(), Field(ge=PRIORITY_MIN, le=PRIORITY_MAX)]
Duration = Annotated[int, Strict(), Field(ge=DURATION_MIN, le=DURATION_MAX)]
Version = Annotated[int, Strict(), Field(ge=0, le=2**53)]
Title = Annotated[str, Strict(), Field(max_length=TITLE_MAX), Text]
Prompt = Annotated[str, Strict(), Field(max_length=PROMPT_MAX), Text]
Note = Annotated[str, Strict(), Field(max_length=NOTE_MAX), Text]
SlotType = Annotated[str, Strict(), Field(pattern=SLOT_TYPE_PATTERN)]
SlotId = Annotated[str, Strict(), Field(min_length=1, max_length=ID_MAX), Text]
EventData = Annotated[dict[str, Any], Strict(), AfterValidator(_plain_event_data)]
Flag = Annotated[bool, Strict()]
#: Series fields (DESIGN §3.1): the rule's and the wall times' own checks are in `bot.core.series`.
RuleText = Annotated[str, Strict(), Field(min_length=1, max_length=RRULE_MAX), Text]
WallTime = Annotated[str, Strict(), Field(min_length=1, max_length=WALL_TIME_MAX)]
ZoneName = Annotated[str, Strict(), Field(min_length=1, max_length=64)]
Exdates = Annotated[list[WallTime], Strict(), Field(max_length=EXDATES_MAX)]
