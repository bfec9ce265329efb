"""What people type for a time and a repeat (`/plan`, `calendar add`), as pure functions.

`when` is read in the calendar's zone (DESIGN §7): `YYYY-MM-DD HH:MM`, `HH:MM`
(the next such time), `tomorrow HH:MM`, `in 10m` / `in 2h` / `in 1h30m` (to the
second). A local time that does not exist (the spring gap) is refused rather
than guessed, because a person named a time that never shows on a clock; an
ambiguous one (the autumn fold) is the first. `repeat` turns the words people
use into the RRULE the calendar stores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.core.series import place

_DATE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ t](\d{1,2}:\d{2})$")
_CLOCK = re.compile(r"^(tomorrow\s+)?(\d{1,2}):(\d{2})$")
_IN = re.compile(r"^in\s+((?:\d{1,5}\s*[dhms]\s*)+)$")
_IN_PART = re.compile(r"(\d{1,5})\s*([dhms])")
_UNIT_S = {"d": 86400, "h": 3600, "m": 60, "s": 1}
#: `in …` reaches at most a year ahead: a typo like `in 99999d` is refused, not planned.
MAX_AHEAD = timedelta(days=366)
_WEEKDAYS = "MO,TU,WE,TH,FR"


class WhenError(ValueError):
    """A time or repeat a person typed that cannot be planned; the text says how to write it."""


def parse_when(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """The aware UTC instant `text` names, seen from `now` (aware); raises `WhenError`."""
    spoken = " ".join(text.strip().lower().split())
    if len(spoken) > 40:
        raise WhenError("a time is at most 40 characters, e.g. 2026-12-24 09:00 or in 10m")
    if match := _IN.match(spoken):
        seconds = sum(int(n) * _UNIT_S[unit] for n, unit in _IN_PART.findall(match.group(1)))
        if not 0 < seconds <= MAX_AHEAD.total_seconds():
            raise WhenError("`in …` must be more than 0 s and at most 366 days ahead")
        return (now + timedelta(seconds=seconds)).astimezone(UTC)
    local_now = now.astimezone(zone)
    if match := _DATE_TIME.match(spoken):
        try:
            day = datetime.fromisoformat(match.group(1)).date()
        except ValueError:
            raise WhenError(f"{match.group(1)} is not a date") from None
        instant = _at(datetime.combine(day, _clock(match.group(2))), zone)
        if instant <= now:
            raise WhenError(
                f"{match.group(0)} is in the past (it is {local_now:%Y-%m-%d %H:%M} now)"
            )
        return instant
    if match := _CLOCK.match(spoken):
        clock = _clock(f"{match.group(2)}:{match.group(3)}")
        day = local_now.date() + timedelta(days=1 if match.group(1) else 0)
        wall = datetime.combine(day, clock)
        if not match.group(1) and place(wall, zone) <= now:
            wall += timedelta(days=1)  # HH:MM is the next such time
        return _at(wall, zone)
    raise WhenError(
        f"{text.strip()[:40]!r} is not a time: write YYYY-MM-DD HH:MM, HH:MM, "
        "tomorrow HH:MM, or in 10m / in 2h"
    )


def _clock(text: str) -> time:
    hour, _, minute = text.partition(":")
    if not (0 <= int(hour) <= 23 and 0 <= int(minute) <= 59):
        raise WhenError(f"{text} is not a time of day (00:00 to 23:59)")
    return time(int(hour), int(minute))


def _at(wall: datetime, zone: ZoneInfo) -> datetime:
    instant = place(wall, zone)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        raise WhenError(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {zone.key} (the clocks skip it); "
            "pick a time outside the change"
        )
    return instant


@dataclass(frozen=True, slots=True)
class Repeat:
    """The RRULE for a `repeat` word; `note` says what a person might not expect, if anything."""

    rule: str
    note: str | None = None


def repeat_rule(word: str, first: datetime) -> Repeat:
    """`daily`, `weekdays`, `weekly`, `monthly` or an RRULE, for a series starting at `first`.

    `first` is the first instance's wall time: `monthly` keeps its day of the month,
    and from a day after the 28th means the month's last day (the answer says so).
    """
    spoken = word.strip()
    presets = {
        "daily": Repeat("FREQ=DAILY"),
        "weekdays": Repeat(f"FREQ=WEEKLY;BYDAY={_WEEKDAYS}"),
        "weekly": Repeat("FREQ=WEEKLY"),
    }
    if spoken.lower() in presets:
        return presets[spoken.lower()]
    if spoken.lower() == "monthly":
        if first.day > 28:
            return Repeat(
                "FREQ=MONTHLY;BYMONTHDAY=-1",
                f"monthly from day {first.day} means the last day of each month",
            )
        return Repeat(f"FREQ=MONTHLY;BYMONTHDAY={first.day}")
    if "FREQ=" in spoken.upper():
        return Repeat(spoken.upper().removeprefix("RRULE:"))
    raise WhenError(
        f"{spoken[:40]!r} is not a repeat: daily, weekdays, weekly, monthly or an RRULE "
        "such as FREQ=WEEKLY;BYDAY=MO,WE"
    )
