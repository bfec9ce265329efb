"""The wording every surface shares: times, ages, status words, and fitting text to a limit.

Discord, the console and the log say a time, an age or a slot's status the
same way, so each of those is written once here. Times are shown in the
calendar's `TIMEZONE`, ages as "3 min ago", and user-written titles are
escaped so a title cannot break the markdown around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from bot.core.models import Action, SlotStatus

STATUS_EMOJI: Final[dict[SlotStatus, str]] = {
    SlotStatus.NOT_STARTED: "⏳",
    SlotStatus.DEFERRED: "💤",
    SlotStatus.ONGOING: "▶️",
    SlotStatus.PAUSED: "⏸️",
    SlotStatus.FINISHED: "✅",
    SlotStatus.ABORTED: "❌",
    SlotStatus.CANCELLED: "🚫",
    SlotStatus.UNKNOWN: "❔",
}

ACTION_PAST: Final[dict[Action, str]] = {
    Action.COMPLETE: "completed",
    Action.ABORT: "aborted",
    Action.PAUSE: "paused",
    Action.RESUME: "resumed",
    Action.DEFER: "deferred",
    Action.START: "started",
    Action.RELEASE: "released",
    Action.CANCEL: "cancelled",
}

_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()])")


def status_word(status: SlotStatus) -> str:
    """The status as people write it: "not started", "ongoing"."""
    return status.value.lower().replace("_", " ")


def status_words(statuses: Iterable[SlotStatus]) -> str:
    """Several statuses in their natural order, joined with "or"."""
    wanted = set(statuses)
    return " or ".join(status_word(s) for s in SlotStatus if s in wanted)


def status_label(status: SlotStatus) -> str:
    """Emoji and word, e.g. "▶️ ongoing": the emoji for scanning, the word for readers."""
    return f"{STATUS_EMOJI[status]} {status_word(status)}"


def escape(text: str, limit: int = 80) -> str:
    """A user-written title on one line, markdown-escaped and cut to `limit` characters."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return _MARKDOWN.sub(r"\\\1", flat)


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def one_line(text: str, limit: int) -> str:
    """`text` on one line (every run of whitespace a single space), then `cut` to `limit`."""
    return cut(" ".join(text.split()), limit)


def fit_lines(lines: Sequence[str], limit: int, *, noun: str = "more") -> tuple[str, int]:
    """As many whole lines as fit in `limit` characters, then "… and N more".

    Answers the text and how many lines it shows.
    """
    if limit <= 0:
        return "", 0
    full = "\n".join(lines)
    if len(full) <= limit:
        return full, len(lines)
    shown: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        rest = len(lines) - index - 1
        tail = f"\n… and {rest} {noun}" if rest else ""
        extra = len(line) + (1 if shown else 0)
        if used + extra + len(tail) > limit:
            break
        shown.append(line)
        used += extra
    hidden = len(lines) - len(shown)
    tail = f"… and {hidden} {noun}"
    if not shown:
        return cut(tail, limit), 0
    return "\n".join([*shown, tail]), len(shown)


def join_names(names: Sequence[str], limit: int) -> str:
    """`a, b, c` within `limit` characters, ending in "and N more" when cut."""
    full = ", ".join(names)
    if len(full) <= limit:
        return full
    shown: list[str] = []
    for index, name in enumerate(names):
        tail = f" and {len(names) - index} more"
        if len(", ".join([*shown, name])) + len(tail) + 1 > limit:
            break
        shown.append(name)
    return cut(", ".join(shown) + f" and {len(names) - len(shown)} more", limit)


def clock_time(at: datetime, tz: ZoneInfo, day: date | None = None) -> str:
    """`14:05` in `tz`, with the date in front when `at` is not on `day`."""
    local = at.astimezone(tz)
    hhmm = local.strftime("%H:%M")
    if day is not None and local.date() != day:
        return f"{local:%b} {local.day} {hhmm}"
    return hhmm


def day_title(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b} {day.year}"


def coarse_span(seconds: float) -> str:
    """A duration in the largest unit it has reached: "42 s", "3 min", "2 h 5 min", "3 d 4 h".

    Coarse on purpose, for ages on a status page: 90 s reads "1 min". The
    core's `bot.core.agent.format_duration` (lateness and silences in the log
    and in nudges) keeps the finer unit up to twice the next one ("90 s").
    """
    s = int(abs(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        hours, minutes = divmod(s // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(s // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def describe_age(seconds: float) -> str:
    """`just now`, `3 min ago`; a negative age is in the future: "in 3 min"."""
    if -1 < seconds < 10:
        return "just now"
    if seconds < 0:
        return f"in {coarse_span(seconds)}"
    return f"{coarse_span(seconds)} ago"


def relative(at: datetime, now: datetime) -> str:
    """How long ago `at` was, seen from `now` (or how far ahead, for a future time)."""
    return describe_age((now - at).total_seconds())
