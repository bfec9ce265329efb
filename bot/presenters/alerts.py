"""The alert channel's wording (DESIGN §11): one message per alert, one for a summary.

Shared by the Discord poster and the headless log, so an alert reads the same
wherever it lands. Each message names what happened, to which agent and slot,
and what the moderator did about it, in one short paragraph a person on duty
can act on; every message fits Discord's 2,000 characters whatever the error
text holds (it is flattened to one line, markdown-escaped and cut).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from bot.core.alerts import Alert, AlertKind, AlertSummary, Notice
from bot.core.notes import format_duration
from bot.presenters.formatting import cut, escape, fit_lines

#: Discord's limit for a message's content.
MESSAGE_LIMIT: Final = 2000
#: An error or note quoted in an alert is cut to this many characters.
DETAIL_LIMIT: Final = 300

_HEADINGS: Final[dict[AlertKind, str]] = {
    AlertKind.MISFIRE: "⚠️ **Misfire**",
    AlertKind.WAKE_FAILED: "🚨 **Wake failed on every waker**",
    AlertKind.STUCK_ABORTED: "⏱️ **Stuck slot aborted**",
    AlertKind.CALENDAR_DOWN: "📅 **Calendar unreachable**",
    AlertKind.CALENDAR_BACK: "✅ **Calendar reachable again**",
}

_AFTERWARDS: Final[dict[AlertKind, str]] = {
    AlertKind.MISFIRE: "It was aborted instead of being woken late.",
    AlertKind.WAKE_FAILED: (
        "The slot was given back and is retried; this alert is not repeated for it."
    ),
    AlertKind.STUCK_ABORTED: "It was aborted, freeing the agent for its next slot.",
}


def _code(text: str) -> str:
    """An id in inline code (backticks cannot close it early)."""
    plain = cut(text.replace("`", "'"), 100)
    return f"`{plain}`"


def _span(since: datetime | None, until: datetime) -> str:
    return format_duration(until - since) if since is not None else "a while"


def alert_text(alert: Alert) -> str:
    """The message for one alert (within `MESSAGE_LIMIT`)."""
    heading = _HEADINGS[alert.kind]
    detail = escape(alert.detail, DETAIL_LIMIT) if alert.detail else ""
    if alert.kind is AlertKind.CALENDAR_DOWN:
        total = f" of {alert.agents_total}" if alert.agents_total else ""
        text = (
            f"{heading} for {_span(alert.since, alert.at)} (more than 3 × SYNC_INTERVAL_S): "
            f"syncs fail for {alert.agents_affected}{total} agent(s); the moderator keeps "
            "their cached schedules meanwhile."
        )
        if detail:
            text += f" Last error: {detail}"
    elif alert.kind is AlertKind.CALENDAR_BACK:
        text = f"{heading} after {_span(alert.since, alert.at)}: syncs succeed again."
    else:
        agent = escape(alert.agent_id or "?", 40)
        slot = _code(alert.slot_id or "?")
        text = f"{heading}: agent **{agent}**, slot {slot}."
        if detail:
            text += f" {detail}."
        text += f" {_AFTERWARDS[alert.kind]}"
    return cut(text, MESSAGE_LIMIT)


def _example(alert: Alert) -> str:
    if alert.slot_id is not None:
        return f"- {alert.kind.value}: {escape(alert.agent_id or '?', 40)} {_code(alert.slot_id)}"
    return f"- {alert.kind.value}"


def summary_text(summary: AlertSummary) -> str:
    """ "N more alerts: …": the counts by kind, then as many examples as fit."""
    kinds = ", ".join(f"{count} × {kind.value}" for kind, count in summary.by_kind)
    head = f"📋 **{summary.count} more alert(s)** (held back by the rate limit): {kinds}"
    room = MESSAGE_LIMIT - len(head) - 1
    body, _ = fit_lines([_example(a) for a in summary.examples], room)
    return cut(f"{head}\n{body}" if body else head, MESSAGE_LIMIT)


def notice_text(notice: Notice) -> str:
    """The message for whatever the desk answered: an alert or a summary."""
    if isinstance(notice, AlertSummary):
        return summary_text(notice)
    return alert_text(notice)


def headless_note() -> str:
    """Said once at start when ALERT_CHANNEL_ID is set without Discord."""
    return (
        "ALERT_CHANNEL_ID is set, but alerts need Discord (DISCORD_TOKEN): running headless, "
        "alerts are written to this log at WARNING instead"
    )


def unusable_channel_note(problem: str) -> str:
    """The one warning at start when the alert channel cannot be used."""
    return f"{problem}; alerts are written to this log at WARNING instead"
