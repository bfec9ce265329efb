"""Text for people: schedules, status snapshots and slot changes as Discord-ready strings.

Kept free of discord.py so every wording and every Discord size limit can be
unit-tested on plain data; the slash-command cog only turns an `EmbedSpec`
into a `discord.Embed`. Times are shown in the calendar's `TIMEZONE`, ages
as "3 min ago", and user-written titles are escaped so a title cannot break
the layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.cache import local_day
from bot.core.guild_report import GuildReport
from bot.core.models import TRANSITIONS, Action, Slot, SlotStatus
from bot.core.status import AgentSnapshot, WakeInfo

# Discord's documented embed limits.
EMBED_TOTAL_LIMIT = 6000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_COUNT_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
MESSAGE_LIMIT = 2000
CHOICE_NAME_LIMIT = 100
CHOICE_COUNT_LIMIT = 25

COLOR_OK = 0x2ECC71
COLOR_WARN = 0xE67E22
COLOR_INFO = 0x5865F2

STATUS_EMOJI: dict[SlotStatus, str] = {
    SlotStatus.NOT_STARTED: "⏳",
    SlotStatus.DEFERRED: "💤",
    SlotStatus.ONGOING: "▶️",
    SlotStatus.PAUSED: "⏸️",
    SlotStatus.FINISHED: "✅",
    SlotStatus.ABORTED: "❌",
}

ACTION_PAST: dict[Action, str] = {
    Action.COMPLETE: "completed",
    Action.ABORT: "aborted",
    Action.PAUSE: "paused",
    Action.RESUME: "resumed",
    Action.DEFER: "deferred",
    Action.START: "started",
    Action.RELEASE: "released",
}

_LABEL_OF = {Action.COMPLETE: "Complete", Action.ABORT: "Abort"}
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()])")


class BadDate(ValueError):
    """A `/schedule date` that is not a day; the message tells the format."""


# ---- small pieces ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmbedField:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class EmbedSpec:
    """An embed as plain data; `discord.Embed` is built from it in the cog."""

    title: str
    description: str = ""
    fields: tuple[EmbedField, ...] = ()
    footer: str | None = None
    color: int | None = None

    def total_chars(self) -> int:
        """The count Discord holds to 6000 (title, description, fields, footer)."""
        total = len(self.title) + len(self.description) + len(self.footer or "")
        return total + sum(len(f.name) + len(f.value) for f in self.fields)


def status_word(status: SlotStatus) -> str:
    """The status as people write it: "not started", "ongoing"."""
    return status.value.lower().replace("_", " ")


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


def clock_time(at: datetime, tz: ZoneInfo, day: date | None = None) -> str:
    """`14:05` in `tz`, with the date in front when `at` is not on `day`."""
    local = at.astimezone(tz)
    hhmm = local.strftime("%H:%M")
    if day is not None and local.date() != day:
        return f"{local:%b} {local.day} {hhmm}"
    return hhmm


def describe_span(seconds: float) -> str:
    """A duration for people: "42 s", "3 min", "2 h 5 min", "3 d 4 h"."""
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
        return f"in {describe_span(seconds)}"
    return f"{describe_span(seconds)} ago"


def relative(at: datetime, now: datetime) -> str:
    return describe_age((now - at).total_seconds())


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


def day_title(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b} {day.year}"


def sort_slots(slots: Iterable[Slot]) -> list[Slot]:
    """By time; at the same time by priority (higher first), then id."""
    return sorted(slots, key=lambda s: (s.scheduled_at, -s.priority, s.id))


def slot_line(slot: Slot, tz: ZoneInfo, day: date | None = None) -> str:
    """One schedule line: time, status, title, priority, duration, id."""
    title = escape(slot.title or slot.slot_type, 60) or "(untitled)"
    return (
        f"`{clock_time(slot.scheduled_at, tz, day)}` {status_label(slot.status)} — **{title}**"
        f" · prio {slot.priority} · {slot.estimated_duration_min} min · `{slot.id}`"
    )


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


def _finish(spec: EmbedSpec) -> EmbedSpec:
    """Hold a built spec to every Discord limit (the last line of defence)."""
    fields = tuple(
        EmbedField(cut(f.name, FIELD_NAME_LIMIT) or "\u200b", cut(f.value, FIELD_VALUE_LIMIT))
        for f in spec.fields[:FIELD_COUNT_LIMIT]
    )
    fixed = EmbedSpec(
        title=cut(spec.title, TITLE_LIMIT),
        description=cut(spec.description, DESCRIPTION_LIMIT),
        fields=fields,
        footer=cut(spec.footer, FOOTER_LIMIT) if spec.footer else None,
        color=spec.color,
    )
    while fixed.total_chars() > EMBED_TOTAL_LIMIT and fixed.fields:
        fixed = EmbedSpec(
            fixed.title, fixed.description, fixed.fields[:-1], fixed.footer, fixed.color
        )
    if fixed.total_chars() > EMBED_TOTAL_LIMIT:
        room = EMBED_TOTAL_LIMIT - fixed.total_chars() + len(fixed.description)
        fixed = EmbedSpec(fixed.title, cut(fixed.description, room), (), fixed.footer, fixed.color)
    return fixed


# ---- /schedule ------------------------------------------------------------------


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


def schedule_embed(days: Sequence[AgentDay], day: date, tz: ZoneInfo) -> EmbedSpec:
    """`/schedule`: one agent's day as lines, or every agent's as one field each."""
    if len(days) == 1:
        return _one_schedule(days[0], day, tz)
    title = f"Schedule for {day_title(day)}"
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
    return _finish(EmbedSpec(title, summary, tuple(fields), footer, color))


def _one_schedule(entry: AgentDay, day: date, tz: ZoneInfo) -> EmbedSpec:
    title = f"{entry.agent_id} — schedule for {day_title(day)}"
    if entry.error is not None:
        return _finish(
            EmbedSpec(title, f"⚠️ could not read the calendar: {entry.error}", color=COLOR_WARN)
        )
    if not entry.slots:
        return _finish(EmbedSpec(title, f"No slots on {day.isoformat()}.", color=COLOR_INFO))
    lines = [slot_line(s, tz, day) for s in sort_slots(entry.slots)]
    head = f"{len(entry.slots)} slot(s): {_status_counts(entry.slots)}\n\n"
    text, _ = fit_lines(lines, DESCRIPTION_LIMIT - len(head))
    footer = f"Times in {tz.key} · use the id with /slot"
    return _finish(EmbedSpec(title, head + text, (), footer, COLOR_INFO))


# ---- /status --------------------------------------------------------------------


def status_lines(
    snap: AgentSnapshot,
    tz: ZoneInfo,
    *,
    link: str | None = None,
) -> list[str]:
    """What `/status` says about one agent; `link` points at its current slot's channel."""
    now = snap.as_of
    today = local_day(now, tz)
    lines: list[str] = []
    if snap.current is None:
        lines.append("🟢 **idle**")
    else:
        cur = snap.current
        where = f" in {link}" if link else ""
        text = (
            f"🟠 **busy** — {status_label(cur.status)}: **{escape(cur.title) or '(untitled)'}**"
            f" (`{cur.id}`){where}"
        )
        if cur.overdue:
            silent = (
                f", silent since {clock_time(cur.last_activity_at, tz, today)} "
                f"({relative(cur.last_activity_at, now)})"
                if cur.last_activity_at
                else ""
            )
            text += f"\n⚠️ **overdue**{silent}: nudged; aborted if it stays silent"
        lines.append(text)
    nxt = snap.next_due
    if nxt is None:
        lines.append("Next: nothing pending")
    else:
        when = clock_time(nxt.at, tz, today)
        timing = (
            f"due since {when} ({relative(nxt.at, now)})"
            if nxt.at <= now
            else f"at {when} ({relative(nxt.at, now)})"
        )
        title = escape(nxt.title) or "(untitled)"
        lines.append(f"Next: **{title}** (`{nxt.id}`) {timing} · prio {nxt.priority}")
    if snap.pending_count:
        extra = []
        if snap.deferred_count:
            extra.append(f"{snap.deferred_count} deferred")
        if snap.session_deferred_count:
            extra.append(f"{snap.session_deferred_count} waiting until the agent is idle")
        lines.append(f"Pending: {snap.pending_count}" + (f" ({', '.join(extra)})" if extra else ""))
    if snap.last_sync_at is None:
        lines.append("Last sync: never")
    else:
        lines.append(
            f"Last sync: {clock_time(snap.last_sync_at, tz, today)} "
            f"({relative(snap.last_sync_at, now)})"
        )
    if snap.consecutive_sync_failures:
        at = (
            f" at {clock_time(snap.last_sync_error_at, tz, today)}"
            if snap.last_sync_error_at
            else ""
        )
        lines.append(
            f"⚠️ sync failing: {snap.consecutive_sync_failures} in a row, last{at}: "
            f"{cut(snap.last_sync_error or 'unknown error', 200)}"
        )
    if snap.last_calendar_error:
        at = (
            f" at {clock_time(snap.last_calendar_error_at, tz, today)} "
            f"({relative(snap.last_calendar_error_at, now)})"
            if snap.last_calendar_error_at
            else ""
        )
        lines.append(
            f"⚠️ calendar failing during checks, last{at}: {cut(snap.last_calendar_error, 200)}"
        )
    wake = snap.last_wake
    if wake is not None:
        when = f"{clock_time(wake.at, tz, today)} ({relative(wake.at, now)})"
        if wake.ok:
            line = f"Last wake: ✅ `{wake.slot_id}` via {wake.via}, {when}"
            failed = failed_attempts(wake)
            if failed:
                line += f"; before it: {cut('; '.join(failed), 200)}"
            lines.append(line)
        else:
            lines.append(
                f"Last wake: ❌ `{wake.slot_id}` failed via {wake.via}, {when}: "
                f"{cut(wake.error or 'unknown error', 200)}"
            )
    if snap.consecutive_wake_failures:
        retry = (
            f"; retry at {clock_time(snap.wake_retry_at, tz, today)} "
            f"({relative(snap.wake_retry_at, now)})"
            if snap.wake_retry_at
            else ""
        )
        lines.append(f"⚠️ wake failing: {snap.consecutive_wake_failures} in a row{retry}")
    return lines


def failed_attempts(wake: WakeInfo) -> list[str]:
    """The wakers that were tried and failed ("discord: missing Manage Channels").

    Wakers not configured for the agent were not really tried, and the one
    that worked is already named by `via`.
    """
    return [
        attempt
        for attempt in wake.attempts
        if not attempt.endswith(": ok") and ": not configured" not in attempt
    ]


def guild_lines(report: GuildReport | None, now: datetime, agent_count: int) -> list[str]:
    """The Discord set-up part of `/status`: what is missing, or that all is well."""
    if report is None:
        return ["not checked yet"]
    age = relative(report.checked_at, now)
    if report.ok:
        return [
            f"✅ all required permissions; all {agent_count - len(report.without_discord)} "
            f"Discord agent(s) are members (checked {age})"
        ]
    lines: list[str] = []
    if report.error:
        lines.append(f"⚠️ check failed: {cut(report.error, 300)}")
    if report.missing_permissions:
        lines.append("⚠️ missing permissions: **" + ", ".join(report.missing_permissions) + "**")
    if report.non_members:
        names = ", ".join(f"{a.agent_id} (user {a.user_id})" for a in report.non_members)
        lines.append(f"⚠️ agents not in the guild: **{names}**")
    for agent_id, reason in report.unchecked:
        lines.append(f"⚠️ could not check {agent_id}: {cut(reason, 200)}")
    lines.append(f"(checked {age})")
    return lines


def status_embed(
    snapshots: Sequence[AgentSnapshot],
    tz: ZoneInfo,
    *,
    links: Mapping[str, str] | None = None,
    guild: GuildReport | None = None,
    agent_count: int | None = None,
    show_guild: bool = True,
) -> EmbedSpec:
    """`/status`: one agent in full, or every agent as one field each, plus the guild check."""
    links = links or {}
    now = max((s.as_of for s in snapshots), default=None)
    count = agent_count if agent_count is not None else len(snapshots)
    healthy = all(s.healthy and not (s.current and s.current.overdue) for s in snapshots)
    guild_ok = guild is None or guild.ok
    color = COLOR_OK if healthy and guild_ok else COLOR_WARN
    guild_field: EmbedField | None = None
    if show_guild and now is not None:
        value, _ = fit_lines(guild_lines(guild, now, count), FIELD_VALUE_LIMIT)
        guild_field = EmbedField("Discord set-up", value)
    footer = f"Times in {tz.key}"
    if len(snapshots) == 1:
        snap = snapshots[0]
        link = links.get(snap.current.id) if snap.current else None
        text, _ = fit_lines(status_lines(snap, tz, link=link), DESCRIPTION_LIMIT)
        extra = (guild_field,) if guild_field else ()
        return _finish(EmbedSpec(f"Status of {snap.agent_id}", text, extra, footer, color))
    busy = sum(1 for s in snapshots if s.busy)
    troubled = [s.agent_id for s in snapshots if not s.healthy]
    summary = f"{len(snapshots)} agents: {busy} busy, {len(snapshots) - busy} idle"
    if troubled:
        summary += f"\n⚠️ trouble: {cut(', '.join(troubled), 1000)}"
    title = "Moderator status"
    budget = (
        EMBED_TOTAL_LIMIT
        - len(title)
        - len(summary)
        - len(footer)
        - 120
        - (len(guild_field.name) + len(guild_field.value) if guild_field else 0)
    )
    fields: list[EmbedField] = []
    max_fields = FIELD_COUNT_LIMIT - (1 if guild_field else 0) - 1
    # Agents with something to look at first, then the rest in configured order.
    ordered = sorted(
        snapshots, key=lambda s: (s.healthy and not (s.current and s.current.overdue), not s.busy)
    )
    for snap in ordered:
        if len(fields) >= max_fields:
            break
        link = links.get(snap.current.id) if snap.current else None
        value, _ = fit_lines(status_lines(snap, tz, link=link), min(FIELD_VALUE_LIMIT, 600))
        if len(snap.agent_id) + len(value) > budget:
            break
        fields.append(EmbedField(snap.agent_id, value))
        budget -= len(snap.agent_id) + len(value)
    hidden = len(snapshots) - len(fields)
    if hidden:
        fields.append(EmbedField(f"… and {hidden} more", "ask for one with `/status agent:<id>`"))
    if guild_field:
        fields.append(guild_field)
    return _finish(EmbedSpec(title, summary, tuple(fields), footer, color))


# ---- /slot ----------------------------------------------------------------------


def _status_words(statuses: Iterable[SlotStatus]) -> str:
    wanted = set(statuses)
    return " or ".join(status_word(s) for s in SlotStatus if s in wanted)


def refusal_text(
    action: Action,
    slot_id: str,
    *,
    code: str,
    detail: str,
    slot: Slot | None,
) -> str:
    """Why the calendar refused `/slot <action>`, and what would work instead."""
    allowed = _status_words(TRANSITIONS[action].allowed_from)
    if code == "agent_busy":
        owner = slot.agent_id if slot else "the agent"
        return (
            f"Cannot {action.value} slot `{slot_id}`: {owner} already holds another ongoing "
            "or paused slot. End that one first."
        )
    if code == "version_mismatch":
        return (
            f"Slot `{slot_id}` changed while this was being done; nothing was changed. "
            "Look at `/schedule` and try again."
        )
    if slot is not None:
        return (
            f"Cannot {action.value} slot `{slot_id}`: it is {status_label(slot.status)}, and "
            f"`{action.value}` works only on {allowed} slots."
        )
    return f"Cannot {action.value} slot `{slot_id}`: {cut(detail, 300)}"


def slot_change_notice(
    slot: Slot,
    action: Action,
    person: str,
    *,
    note: str | None,
    tz: ZoneInfo,
    via: str | None = None,
) -> str:
    """The announcement in the agent's wake channel (no mentions: agents read bot messages).

    `via` is how the person did it: `/slot complete` by default, or e.g. "button".
    """
    title = escape(slot.title or slot.slot_type, 100)
    if via == "button":
        verb = f"pressed the {_LABEL_OF.get(action, action.value)} button"
    else:
        verb = f"used `{via or f'/slot {action.value}'}`"
    text = (
        f"📣 **{escape(person, 60)}** {verb} on this slot "
        f"(`{slot.id}` — {title}): it is now {status_label(slot.status)}."
    )
    if action is Action.DEFER:
        text += f" Rescheduled for {clock_time(slot.scheduled_at, tz)} ({tz.key})."
    follow = {
        Action.COMPLETE: "No more work is needed on it.",
        Action.ABORT: "Please stop working on it.",
        Action.PAUSE: "Please pause until it is resumed.",
        Action.RESUME: "Please carry on.",
    }.get(action)
    if follow:
        text += f" {follow}"
    if note:
        text += f"\nNote: {' '.join(note.split())}"
    return cut(text, MESSAGE_LIMIT)


def slot_change_reply(slot: Slot, action: Action, tz: ZoneInfo, *, announced_in: str | None) -> str:
    """What the person who ran `/slot` sees."""
    title = escape(slot.title or slot.slot_type, 100)
    text = (
        f"Slot `{slot.id}` ({title}) of {slot.agent_id} {ACTION_PAST[action]}: "
        f"now {status_label(slot.status)}."
    )
    if action is Action.DEFER:
        text += f" Scheduled at {clock_time(slot.scheduled_at, tz)} ({tz.key})."
    if announced_in:
        text += f"\nAnnounced in {announced_in}."
    else:
        text += "\nNot announced: the slot has no wake channel (it was not woken on Discord)."
    return cut(text, MESSAGE_LIMIT)


def slot_choice(slot: Slot, tz: ZoneInfo, today: date | None = None) -> tuple[str, str]:
    """An autocomplete choice for a slot id: (label for people, the id)."""
    title = " ".join((slot.title or slot.slot_type).split())
    label = (
        f"{slot.agent_id} {clock_time(slot.scheduled_at, tz, today)} "
        f"{status_word(slot.status)} · {title}"
    )
    prefix = f"[{slot.id[:8]}] "
    return cut(prefix + label, CHOICE_NAME_LIMIT), slot.id
