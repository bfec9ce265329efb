"""`/plan`, `/series` and `/slot move` on Discord: what was planned, when it comes next, and
why a request was refused, each within Discord's message limit.

The next times of a series are worked out here from its own rule (the same
expansion the calendar uses, `bot.core.series.Recurrence`), so the answer
shows exactly the instants the agent will be woken at, in the calendar's zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.models import Series, Slot
from bot.core.series import next_instants
from bot.presenters.discord_embed import CHOICE_NAME_LIMIT, MESSAGE_LIMIT
from bot.presenters.discord_slot import where_announced
from bot.presenters.formatting import cut, escape, fit_lines, status_label

#: How many coming times `/plan` and `/series list` show (DESIGN §7: "the next three").
NEXT_TIMES = 3
NOT_STORED = "Nothing was planned."


def when_text(at: datetime, tz: ZoneInfo) -> str:
    """A time as people plan it: weekday, date and clock time in the calendar's zone."""
    return f"{at.astimezone(tz):%a %Y-%m-%d %H:%M}"


def next_times(series: Series, after: datetime) -> list[datetime]:
    """The series' next `NEXT_TIMES` instants from `after`; none once it has ended."""
    return next_instants(series, after, NEXT_TIMES)


def plan_refusal(reason: str) -> str:
    """A `/plan` refused before anything reached the calendar."""
    return cut(f"Cannot plan that: {reason}. {NOT_STORED}", MESSAGE_LIMIT)


def planned_slot_reply(slot: Slot, tz: ZoneInfo) -> str:
    title = escape(slot.title or slot.slot_type, 100)
    return cut(
        f"Planned slot `{slot.id}` for {slot.agent_id}: **{title}** "
        f"(prio {slot.priority}, {slot.estimated_duration_min} min).\n"
        f"It is woken at {when_text(slot.scheduled_at, tz)} ({tz.key}); it does not repeat.",
        MESSAGE_LIMIT,
    )


def planned_series_reply(
    series: Series, tz: ZoneInfo, now: datetime, *, word: str, note: str | None
) -> str:
    title = escape(series.title or series.slot_type, 100)
    lines = [
        f"Planned series `{series.id}` for {series.agent_id}: **{title}** "
        f"(prio {series.priority}, {series.estimated_duration_min} min), "
        f"repeating {escape(word, 60)} (`{cut(series.rrule, 200)}`).",
    ]
    if note:
        lines.append(f"Note: {note}.")
    times = next_times(series, now)
    lines.append(f"Next {len(times)} time(s), in {tz.key}:")
    lines += [f"- {when_text(at, tz)}" for at in times]
    lines.append("End it with `/series end`.")
    return cut("\n".join(lines), MESSAGE_LIMIT)


def series_line(series: Series, tz: ZoneInfo, now: datetime) -> str:
    """One `/series list` entry: id, agent, title, rule, and its next times or its end."""
    title = escape(series.title or series.slot_type, 60)
    head = f"`{series.id}` · {series.agent_id} · **{title}** · `{cut(series.rrule, 80)}`"
    if series.ended_at is not None:
        return f"{head} · ended {when_text(series.ended_at, tz)}"
    times = next_times(series, now)
    coming = ", ".join(when_text(at, tz) for at in times) or "no more times"
    return f"{head} · next: {coming}"


def series_list_text(series: Sequence[Series], tz: ZoneInfo, now: datetime, who: str) -> str:
    """`/series list`: running series first, then ended ones, within one message."""
    if not series:
        return f"No series for {who}. Plan one with `/plan … repeat:weekdays`."
    running = [s for s in series if s.ended_at is None]
    ended = [s for s in series if s.ended_at is not None]
    head = f"{len(running)} running and {len(ended)} ended series for {who} (times in {tz.key}):"
    lines = [series_line(s, tz, now) for s in (*running, *ended)]
    body, _ = fit_lines(lines, MESSAGE_LIMIT - len(head) - 2)
    return f"{head}\n{body}"


def series_choice(series: Series) -> tuple[str, str]:
    """An autocomplete choice for a series id: (label for people, the id)."""
    title = " ".join((series.title or series.slot_type).split())
    label = f"[{series.id[:8]}] {series.agent_id} · {title} · {series.rrule}"
    return cut(label, CHOICE_NAME_LIMIT), series.id


def series_ended_reply(series: Series, tz: ZoneInfo) -> str:
    title = escape(series.title or series.slot_type, 100)
    return cut(
        f"Ended series `{series.id}` of {series.agent_id} ({title}): no more times after now, "
        "and its occurrences that had not started are cancelled.",
        MESSAGE_LIMIT,
    )


def moved_reply(slot: Slot, tz: ZoneInfo, *, announced_in: str | None) -> str:
    """What the person who ran `/slot move` sees."""
    title = escape(slot.title or slot.slot_type, 100)
    text = (
        f"Slot `{slot.id}` ({title}) of {slot.agent_id} moved: it is now woken at "
        f"{when_text(slot.scheduled_at, tz)} ({tz.key})."
    )
    return cut(text + where_announced(announced_in), MESSAGE_LIMIT)


def moved_notice(slot: Slot, person: str, tz: ZoneInfo, note: str | None) -> str:
    """The announcement of a move in the slot's wake channel (no mentions)."""
    title = escape(slot.title or slot.slot_type, 100)
    text = (
        f"📣 **{escape(person, 60)}** used `/slot move` on this slot (`{slot.id}` — {title}): "
        f"it is now planned for {when_text(slot.scheduled_at, tz)} ({tz.key})."
    )
    if note:
        text += f"\nNote: {' '.join(note.split())}"
    return cut(text, MESSAGE_LIMIT)


def move_refusal(slot_id: str, *, code: str, detail: str, slot: Slot | None) -> str:
    """Why the calendar refused `/slot move`: only a slot still waiting can move."""
    if code == "version_mismatch":
        return (
            f"Slot `{slot_id}` changed while it was being moved; nothing was changed. "
            "Look at `/schedule` and try again."
        )
    if slot is not None:
        return (
            f"Cannot move slot `{slot_id}`: it is {status_label(slot.status)}, and only a "
            "not started or deferred slot can be moved. Nothing was changed."
        )
    return f"Cannot move slot `{slot_id}`: {cut(detail, 300)}. Nothing was changed."
