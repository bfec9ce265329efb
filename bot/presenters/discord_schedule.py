"""`/schedule` on Discord: a day of slots per agent, held to the embed limits.

The day a person asks for is read here too (`parse_day`), so the error for a
bad date is worded next to the embed it would have produced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from bot.core.models import Slot, SlotStatus
from bot.presenters.discord_embed import (
    COLOR_INFO,
    COLOR_WARN,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_COUNT_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    EmbedField,
    EmbedSpec,
    finish_embed,
)
from bot.presenters.formatting import (
    clock_time,
    cut,
    day_title,
    escape,
    fit_lines,
    join_names,
    status_label,
    status_word,
)

_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BadDate(ValueError):
    """A `/schedule date` that is not a day; the message tells the format."""


def parse_day(text: str | None, today: date) -> date:
    """The day a person asked for: YYYY-MM-DD, or today / tomorrow / yesterday (or nothing)."""
    raw = (text or "").strip().lower()
    if raw in ("", "today"):
        return today
    if raw == "tomorrow":
        return today + timedelta(days=1)
    if raw == "yesterday":
        return today - timedelta(days=1)
    if _DAY_RE.match(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    shown = cut((text or "").strip(), 40)
    raise BadDate(
        f"`{escape(shown, 40)}` is not a date: use YYYY-MM-DD (e.g. {today.isoformat()}), "
        "or today / tomorrow / yesterday."
    )


def sort_slots(slots: Iterable[Slot]) -> list[Slot]:
    """By time; at the same time by priority (higher first), then id."""
    return sorted(slots, key=lambda s: (s.scheduled_at, -s.priority, s.id))


#: Marks an occurrence of a series (DESIGN §7), so a person knows `/series` governs it.
SERIES_MARK = "🔁"


def slot_line(slot: Slot, tz: ZoneInfo, day: date | None = None) -> str:
    """One schedule line: time, status, series mark, title, priority, duration, id."""
    title = escape(slot.title or slot.slot_type, 60) or "(untitled)"
    mark = f"{SERIES_MARK} " if slot.series_id else ""
    when = clock_time(slot.scheduled_at, tz, day)
    return (
        f"`{when}` {status_label(slot.status)} — {mark}**{title}**"
        f" · prio {slot.priority} · {slot.estimated_duration_min} min · `{slot.id}`"
    )


@dataclass(frozen=True, slots=True)
class AgentDay:
    """One agent's slots on a day, or why they could not be read."""

    agent_id: str
    slots: Sequence[Slot] = field(default_factory=tuple)
    error: str | None = None


def _status_counts(slots: Iterable[Slot]) -> str:
    counts: dict[SlotStatus, int] = {}
    for slot in slots:
        counts[slot.status] = counts.get(slot.status, 0) + 1
    return ", ".join(
        f"{n} {status_word(status)}" for status in SlotStatus if (n := counts.get(status, 0))
    )


def span_title(day: date, count: int) -> str:
    """The day, or the first and last of `count` days from it."""
    if count <= 1:
        return day_title(day)
    return f"{day_title(day)} – {day_title(day + timedelta(days=count - 1))}"


def schedule_embed(days: Sequence[AgentDay], day: date, tz: ZoneInfo, count: int = 1) -> EmbedSpec:
    """`/schedule`: one agent's day(s) as lines, or every agent's as one field each.

    `days` hold each agent's slots over `count` days from `day`; a time on another day
    than `day` is shown with its date.
    """
    if len(days) == 1:
        return _one_schedule(days[0], day, tz, count)
    title = f"Schedule for {span_title(day, count)}"
    all_slots = [s for d in days for s in d.slots]
    summary = f"{len(days)} agents · {len(all_slots)} slot(s)"
    if all_slots:
        summary += f" ({_status_counts(all_slots)})"
    summary += f"\nTimes in {tz.key}. Details: `/schedule agent:<id>`."
    footer_reserve = 120
    budget = EMBED_TOTAL_LIMIT - len(title) - len(summary) - footer_reserve
    fields: list[EmbedField] = []
    errors = False
    with_slots = [d for d in days if d.slots or d.error]
    empty = [d.agent_id for d in days if not d.slots and not d.error]
    # One field is kept for "no slots" and one for "and N more agents".
    max_agent_fields = FIELD_COUNT_LIMIT - (1 if empty else 0) - 1
    shown_agents = 0
    for entry in with_slots:
        if len(fields) >= max_agent_fields:
            break
        name = cut(f"{entry.agent_id} — {len(entry.slots)} slot(s)", FIELD_NAME_LIMIT)
        if entry.error is not None:
            errors = True
            value = cut(f"⚠️ could not read the calendar: {entry.error}", FIELD_VALUE_LIMIT)
        else:
            lines = [slot_line(s, tz, day) for s in sort_slots(entry.slots)]
            room = min(FIELD_VALUE_LIMIT, budget - len(name) - 200)
            if room < 150:
                break
            value, _ = fit_lines(lines, room)
        if len(name) + len(value) > budget - 200:
            break
        fields.append(EmbedField(name, value))
        budget -= len(name) + len(value)
        shown_agents += 1
    hidden = len(with_slots) - shown_agents
    if empty:
        fields.append(EmbedField("No slots", join_names(empty, min(900, max(60, budget - 30)))))
    footer = None
    if hidden:
        footer = f"… and {hidden} more agent(s) with slots: ask with /schedule agent:<id>"
    color = COLOR_WARN if errors else COLOR_INFO
    return finish_embed(EmbedSpec(title, summary, tuple(fields), footer, color))


def _one_schedule(entry: AgentDay, day: date, tz: ZoneInfo, count: int) -> EmbedSpec:
    title = f"{entry.agent_id} — schedule for {span_title(day, count)}"
    if entry.error is not None:
        return finish_embed(
            EmbedSpec(title, f"⚠️ could not read the calendar: {entry.error}", color=COLOR_WARN)
        )
    if not entry.slots:
        when = day.isoformat() if count <= 1 else span_title(day, count)
        return finish_embed(EmbedSpec(title, f"No slots on {when}.", color=COLOR_INFO))
    lines = [slot_line(s, tz, day) for s in sort_slots(entry.slots)]
    head = f"{len(entry.slots)} slot(s): {_status_counts(entry.slots)}\n\n"
    text, _ = fit_lines(lines, DESCRIPTION_LIMIT - len(head))
    footer = f"Times in {tz.key} · {SERIES_MARK} = a series' occurrence · use the id with /slot"
    return finish_embed(EmbedSpec(title, head + text, (), footer, COLOR_INFO))
