"""`/status` on Discord: each agent's state, its troubles, and the guild's set-up check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.cache import local_day
from bot.core.guild_report import GuildReport
from bot.core.shard_status import CalendarAgentStatus, FeedHealth
from bot.core.status import AgentSnapshot
from bot.core.waker import WakeResult
from bot.presenters.discord_embed import (
    COLOR_OK,
    COLOR_WARN,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_COUNT_LIMIT,
    FIELD_VALUE_LIMIT,
    EmbedField,
    EmbedSpec,
    finish_embed,
)
from bot.presenters.formatting import clock_time, cut, fit_lines, relative, status_label
from bot.presenters.status_elsewhere import (
    elsewhere_lines,
    feed_line,
    named_slot,
    next_line,
    shard_name,
)


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
        text = f"🟠 **busy** — {status_label(cur.status)}: {named_slot(cur.title, cur.id)}{where}"
        if cur.overdue:
            silent = (
                f", silent since {clock_time(cur.last_activity_at, tz, today)} "
                f"({relative(cur.last_activity_at, now)})"
                if cur.last_activity_at
                else ""
            )
            text += f"\n⚠️ **overdue**{silent}: nudged; aborted if it stays silent"
        lines.append(text)
    lines.append(next_line(snap.next_due, now, tz))
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
    for failing, error, error_at in (
        ("calendar failing during checks", snap.last_calendar_error, snap.last_calendar_error_at),
        ("state file refusing writes", snap.last_state_error, snap.last_state_error_at),
    ):
        if error:
            at = (
                f" at {clock_time(error_at, tz, today)} ({relative(error_at, now)})"
                if error_at
                else ""
            )
            lines.append(f"⚠️ {failing}, last{at}: {cut(error, 200)}")
    wake = snap.last_wake
    if wake is not None:
        when = f"{clock_time(wake.at, tz, today)} ({relative(wake.at, now)})"
        result = wake.result
        if result.ok:
            line = f"Last wake: ✅ `{wake.slot_id}` via {result.via}, {when}"
            failed = failed_attempts(result)
            if failed:
                line += f"; before it: {cut('; '.join(failed), 200)}"
            lines.append(line)
        else:
            lines.append(
                f"Last wake: ❌ `{wake.slot_id}` failed via {result.via}, {when}: "
                f"{cut(result.error or 'unknown error', 200)}"
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


def failed_attempts(result: WakeResult) -> list[str]:
    """The wakers that were tried and failed ("discord: missing Manage Channels").

    Wakers not configured for the agent were not really tried, and the one
    that worked is already named by `via`.
    """
    return [
        attempt
        for attempt in result.attempts
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


@dataclass(frozen=True, slots=True)
class _Entry:
    """One agent's part of `/status`, whoever schedules it."""

    name: str
    lines: list[str]
    #: Nothing to look at (synced, waking, not overdue; readable, for another shard's).
    calm: bool
    busy: bool


def _own(snap: AgentSnapshot, tz: ZoneInfo, links: Mapping[str, str]) -> _Entry:
    link = links.get(snap.current.id) if snap.current else None
    calm = snap.healthy and not (snap.current and snap.current.overdue)
    return _Entry(snap.agent_id, status_lines(snap, tz, link=link), bool(calm), snap.busy)


def _elsewhere(status: CalendarAgentStatus, tz: ZoneInfo) -> _Entry:
    return _Entry(
        f"{status.agent_id} ({shard_name(status)})",
        elsewhere_lines(status, tz),
        status.error is None,
        status.busy,
    )


def status_embed(
    snapshots: Sequence[AgentSnapshot],
    tz: ZoneInfo,
    *,
    links: Mapping[str, str] | None = None,
    guild: GuildReport | None = None,
    agent_count: int | None = None,
    show_guild: bool = True,
    others: Sequence[CalendarAgentStatus] = (),
    feed: FeedHealth | None = None,
    sync_interval_s: float = 300.0,
) -> EmbedSpec:
    """`/status`: one agent in full, or every agent as one field each, plus the guild check.

    `others` are the agents another shard schedules (from the calendar, marked
    with their shard); `feed` adds how calendar changes arrive.
    """
    links = links or {}
    entries = [_own(s, tz, links) for s in snapshots] + [_elsewhere(o, tz) for o in others]
    now = max([s.as_of for s in snapshots] + [o.as_of for o in others], default=None)
    count = agent_count if agent_count is not None else len(entries)
    calm = all(e.calm for e in entries)
    feed_ok = feed is None or feed.live
    guild_ok = guild is None or guild.ok
    color = COLOR_OK if calm and guild_ok and feed_ok else COLOR_WARN
    extra: list[EmbedField] = []
    if feed is not None and now is not None:
        extra.append(EmbedField("Calendar", feed_line(feed, now, tz, sync_interval_s)))
    if show_guild and now is not None:
        value, _ = fit_lines(guild_lines(guild, now, count), FIELD_VALUE_LIMIT)
        extra.append(EmbedField("Discord set-up", value))
    footer = f"Times in {tz.key}"
    if len(entries) == 1:
        entry = entries[0]
        text, _ = fit_lines(entry.lines, DESCRIPTION_LIMIT)
        return finish_embed(EmbedSpec(f"Status of {entry.name}", text, tuple(extra), footer, color))
    busy = sum(1 for e in entries if e.busy)
    troubled = [e.name for e in entries if not e.calm]
    summary = f"{len(entries)} agents: {busy} busy, {len(entries) - busy} idle"
    if troubled:
        summary += f"\n⚠️ trouble: {cut(', '.join(troubled), 1000)}"
    title = "Moderator status"
    budget = (
        EMBED_TOTAL_LIMIT
        - len(title)
        - len(summary)
        - len(footer)
        - 120
        - sum(len(f.name) + len(f.value) for f in extra)
    )
    fields: list[EmbedField] = []
    max_fields = FIELD_COUNT_LIMIT - len(extra) - 1
    # Agents with something to look at first, then the busy, then in the order given.
    ordered = sorted(entries, key=lambda e: (e.calm, not e.busy))
    for entry in ordered:
        if len(fields) >= max_fields:
            break
        value, _ = fit_lines(entry.lines, min(FIELD_VALUE_LIMIT, 600))
        if len(entry.name) + len(value) > budget:
            break
        fields.append(EmbedField(entry.name, value))
        budget -= len(entry.name) + len(value)
    hidden = len(entries) - len(fields)
    if hidden:
        fields.append(EmbedField(f"… and {hidden} more", "ask for one with `/status agent:<id>`"))
    fields.extend(extra)
    return finish_embed(EmbedSpec(title, summary, tuple(fields), footer, color))
