"""The core's events in words, for the log and the console (one line each).

One wording for every surface that shows an event as a line: the demo's story
of trouble, and the moderator's log. The Discord surface shows events through
its own messages (wake, acknowledgement, buttons), not through these lines.
"""

from __future__ import annotations

from bot.core.events import (
    AgentWoken,
    ClaimConflict,
    DayRolledOver,
    Event,
    HeartbeatSent,
    SlotAbortedByRule,
    SlotClaimed,
    SlotDeferred,
    SlotEnded,
    SlotMisfired,
    SlotNudged,
    SlotReleased,
    SlotTransitioned,
    StuckSlotAborted,
    Synced,
    SyncFailed,
    WakeFailed,
    WakeRecovered,
)

#: Events that mean something went wrong and a person may want to look.
TROUBLE: tuple[type[Event], ...] = (
    WakeFailed,
    SyncFailed,
    SlotMisfired,
    StuckSlotAborted,
    ClaimConflict,
    SlotReleased,
    SlotNudged,
)


def event_name(event: Event) -> str:
    """A short name of the event's kind, e.g. `wake failed`."""
    names = {
        Synced: "synced",
        SyncFailed: "sync failed",
        HeartbeatSent: "heartbeat",
        DayRolledOver: "day rollover",
        SlotDeferred: "deferred",
        SlotClaimed: "claimed",
        ClaimConflict: "claim conflict",
        AgentWoken: "woken",
        WakeFailed: "wake failed",
        SlotReleased: "released",
        SlotTransitioned: "transition",
        SlotEnded: "ended",
        SlotMisfired: "misfired",
        SlotNudged: "nudged",
        StuckSlotAborted: "stuck slot aborted",
        WakeRecovered: "recovered",
    }
    return names.get(type(event), type(event).__name__)


def event_detail(event: Event) -> str:
    """What is worth saying about the event beyond its kind (may be empty)."""
    match event:
        case Synced(slot_count=count):
            return f"{count} slot(s)"
        case SyncFailed(error=error) | WakeFailed(error=error):
            return error
        case HeartbeatSent(status=status):
            return status.value
        case DayRolledOver(previous=previous, today=today, carried=carried):
            return f"{previous} -> {today}, {carried} carried"
        case SlotDeferred(reason=reason):
            return reason
        case SlotClaimed(slot=slot):
            return f"priority {slot.priority}"
        case ClaimConflict(code=code, detail=detail):
            return f"{code}: {detail}"
        case AgentWoken(via=via, reference=reference):
            return f"via {via} {reference or ''}".rstrip()
        case SlotReleased():
            return "DEFERRED, to be retried"
        case SlotTransitioned(action=action, source=source, status=status):
            return f"{action.value} by {source} -> {status.value}"
        case SlotEnded(slot=slot):
            return slot.status.value
        case SlotAbortedByRule(note=note):
            return note
        case SlotNudged(posted=posted):
            return "posted" if posted else "not posted"
        case WakeRecovered(claimed_before=claimed_before):
            return (
                "wake resumed after restart"
                if claimed_before
                else "claim settled by its key; waking"
            )
    return ""


def event_line(event: Event, subject: str) -> str:
    """`<agent>: <kind> <subject>: <detail>`, the line the demo and the log show."""
    detail = event_detail(event)
    head = f"{event.agent_id}: {event_name(event)} {subject}"
    return f"{head}: {detail}" if detail else head
