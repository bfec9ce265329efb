"""What a `calendar` command's options may hold, read strictly (DESIGN §3.2, §9).

A shell hands every option over as text, so the loose readings Python offers
(`int(" +5_0 ")`, `datetime.fromisoformat("1700000000")`, a float overflowing
to infinity) are refused here: an option means one thing or is a usage error
naming it (exit 2), before anything is opened or written.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app.value_checks import shown
from bot.core.limits import PROMPT_MAX, YEAR_MAX, YEAR_MIN
from bot.core.models import AGENT_ID_PATTERN, is_valid_agent_id
from bot.core.sqlite_path import path_problem


class UsageError(Exception):
    """A bad argument; the message is the whole one-line explanation."""


_DURATION_PART = re.compile(r"(\d{1,9}(?:\.\d{1,9})?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,12}")
#: A date and a wall-clock time, with an optional offset: nothing else reads as a moment.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})?"
)
_CLOCK_TIME = re.compile(r"\d{1,2}:\d{2}(:\d{2})?")
#: UTF-8 takes at most 4 bytes a character: reading this much tells a too-long prompt file.
_PROMPT_FILE_BYTES = PROMPT_MAX * 4 + 1


def parse_delay(text: str) -> timedelta:
    """'90s', '10m', '2h', '1h30m', '1.5d' as a duration."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise UsageError(f"--in: {shown(text)} is not a delay like 90s, 10m, 2h or 1h30m")
    try:
        return timedelta(seconds=sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))
    except OverflowError:
        raise UsageError(f"--in: {shown(text)} is further ahead than any calendar date") from None


def moment_after(now: datetime, delay: timedelta) -> datetime:
    """`now + delay`, or the usage error saying it is beyond the calendar's years."""
    try:
        return now + delay
    except OverflowError:
        raise UsageError(f"--in: must stay within the years {YEAR_MIN}..{YEAR_MAX}") from None


def parse_at(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """A date-time `YYYY-MM-DD HH:MM[:SS]` (no offset = in `tz`), or HH:MM[:SS] today in `tz`.

    An epoch number, a date alone or any other ISO form Python would also accept is
    refused: the person meant something, and guessing could file the slot years away.
    A wall time `tz` skips (a spring-forward gap) is refused; an ambiguous one
    (autumn) is the earlier instant, as for series.
    """
    value = text.strip()
    bad = UsageError(
        f"--at: {shown(text)} is not a date-time like 2026-01-05T09:30, "
        "2026-01-05T09:30+02:00 or 09:30"
    )
    try:
        if _DATE_TIME.fullmatch(value):
            moment = datetime.fromisoformat(value)
        elif _CLOCK_TIME.fullmatch(value):
            moment = datetime.combine(now.astimezone(tz).date(), _clock(value))
        else:
            raise bad
    except ValueError:
        raise bad from None
    if moment.tzinfo is not None:
        return moment
    local = moment.replace(tzinfo=tz)
    try:
        round_trip = local.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    except OverflowError:
        raise UsageError(
            f"--at: {shown(text)} must lie between the years {YEAR_MIN} and {YEAR_MAX}"
        ) from None
    if round_trip != moment:
        raise UsageError(
            f"--at: {value} does not exist in {tz.key} (the clocks skip it); "
            "give another time or an offset"
        )
    return local


def _clock(value: str) -> time:
    """H:MM as well as HH:MM (Python wants two hour digits)."""
    return time.fromisoformat("0" + value if value.index(":") == 1 else value)


def whole_number(text: str, option: str, low: int, high: int) -> int:
    """`text` as a plain decimal integer within low..high (no sign tricks, no `_`, no spaces)."""
    value = int(text) if _WHOLE_NUMBER.fullmatch(text) else None
    if value is None or not low <= value <= high:
        raise UsageError(f"{option}: {shown(text)} must be a whole number, {low}..{high}")
    return value


def agent_option(text: str) -> str:
    if not is_valid_agent_id(text):
        raise UsageError(f"--agent: {shown(text)} is not an agent id ({AGENT_ID_PATTERN})")
    return text


def read_prompt_file(name: str) -> str:
    """The prompt in file `name` (`-` = standard input), read bounded: `/dev/zero` or a
    log file given by mistake is refused after a few pages, never read whole."""
    try:
        if name == "-":
            raw = sys.stdin.buffer.read(_PROMPT_FILE_BYTES)
        else:
            with Path(name).open("rb") as file:
                raw = file.read(_PROMPT_FILE_BYTES)
    except OSError as exc:
        raise UsageError(f"--prompt-file: {name} cannot be read ({exc.strerror or exc})") from None
    too_long = UsageError(f"--prompt-file: {name} is longer than {PROMPT_MAX} characters")
    if len(raw) >= _PROMPT_FILE_BYTES:
        raise too_long
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--prompt-file: {name} is not UTF-8 text") from None
    if len(text) > PROMPT_MAX:
        raise too_long
    return text


def check_calendar_path(path: Path, source: str) -> None:
    """A usage error naming `source` (the option or the setting) when `path` cannot hold the
    calendar; looks only, so a read of a mistyped path creates nothing (DESIGN §4)."""
    problem = path_problem(path)
    if problem is not None:
        raise UsageError(f"{source}: {path} {problem} (nothing was created)")
