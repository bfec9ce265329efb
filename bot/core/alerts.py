"""What goes to the people on duty (DESIGN §11 "Alerts"): which events, once each, how often.

The alert channel is for a person to act on, so it must stay readable: a
slot's failure is said once (a wake retried every few minutes fails again and
again, and each retry is the same news), a burst is capped at `per_window`
messages a `window_s` with the rest summed up in one later message, and a
calendar outage is one message when it has lasted more than 3 x
`SYNC_INTERVAL_S` and one when it is over, however many agents it hit.

This module decides; it neither words (bot/presenters/alerts.py) nor posts
(bot/discord_io/alert_poster.py, or the log when headless), so every rule
here is tested with a fake clock and no Discord.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.clock import Clock
from bot.core.events import (
    Event,
    SlotMisfired,
    StuckSlotAborted,
    Synced,
    SyncFailed,
    WakeFailed,
)

#: Default rate: at most this many messages in any `DEFAULT_WINDOW_S`, the summary included.
DEFAULT_PER_WINDOW = 5
DEFAULT_WINDOW_S = 60.0
#: The calendar counts as unreachable after this many sync intervals without a good sync.
OUTAGE_INTERVALS = 3
#: Slot alerts remembered for "once each"; the oldest are forgotten past this (bounded memory).
REMEMBERED_SLOTS = 10_000
#: Held alerts kept whole for the summary's examples; beyond this only counted.
HELD_KEPT = 200


class AlertKind(StrEnum):
    MISFIRE = "misfire"
    WAKE_FAILED = "wake failed"
    STUCK_ABORTED = "stuck slot aborted"
    CALENDAR_DOWN = "calendar unreachable"
    CALENDAR_BACK = "calendar reachable again"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One thing for a person to know. Slot alerts name the slot; calendar ones count agents."""

    kind: AlertKind
    at: datetime
    agent_id: str | None = None
    slot_id: str | None = None
    detail: str = ""
    #: Calendar alerts: since when it has been unreachable, and how many agents it hits.
    since: datetime | None = None
    agents_affected: int = 0
    agents_total: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertSummary:
    """The alerts held back by the rate limit, told in one message."""

    at: datetime
    count: int
    by_kind: tuple[tuple[AlertKind, int], ...]
    #: A few of them in full (the first ones), for the message's examples.
    examples: tuple[Alert, ...]


Notice = Alert | AlertSummary


@dataclass(slots=True)
class _Outage:
    """Per agent: when its syncs started failing (its last good sync, or the first failure)."""

    last_ok: dict[str, datetime] = field(default_factory=dict)
    down_since: dict[str, datetime] = field(default_factory=dict)
    last_error: str = ""
    open_since: datetime | None = None


class AlertDesk:
    """Turns the core's events into notices to post: decided, deduplicated, rate-limited.

    `observe(event)` answers what to post now (possibly nothing); alerts over
    the limit are held, and `flush()` answers their summary once
    `summary_due_at` has come (the poster sleeps until then on the same clock).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        sync_interval_s: float,
        agents_total: int = 0,
        per_window: int = DEFAULT_PER_WINDOW,
        window_s: float = DEFAULT_WINDOW_S,
    ) -> None:
        if per_window < 1 or window_s <= 0:
            raise ValueError("the alert rate needs at least one message in a positive window")
        self.clock = clock
        self.threshold = timedelta(seconds=OUTAGE_INTERVALS * sync_interval_s)
        self.agents_total = agents_total
        self.per_window = per_window
        self.window = timedelta(seconds=window_s)
        self._seen: OrderedDict[tuple[AlertKind, str], None] = OrderedDict()
        self._outage = _Outage()
        self._sent: deque[datetime] = deque()
        self._held: list[Alert] = []
        self._held_count: Counter[AlertKind] = Counter()

    # ---- deciding ---------------------------------------------------------------

    def observe(self, event: Event) -> list[Notice]:
        """What to post for `event` now: at most one alert (none when it is old news or held)."""
        alert = self.decide(event)
        if alert is None:
            return []
        return self._admit(alert)

    def decide(self, event: Event) -> Alert | None:
        """Whether `event` is news for the people on duty (once each; no rate limit here:
        the log, which has no limit, asks only this)."""
        match event:
            case SlotMisfired(note=note):
                return self._once(AlertKind.MISFIRE, event, note)
            case WakeFailed(error=error):
                return self._once(AlertKind.WAKE_FAILED, event, error)
            case StuckSlotAborted(note=note):
                return self._once(AlertKind.STUCK_ABORTED, event, note)
            case Synced():
                return self._synced(event)
            case SyncFailed(error=error):
                return self._sync_failed(event, error)
        return None

    def _once(self, kind: AlertKind, event: Event, detail: str) -> Alert | None:
        slot_id = getattr(event, "slot_id", "")
        key = (kind, slot_id)
        if key in self._seen:
            self._seen.move_to_end(key)
            return None
        self._seen[key] = None
        while len(self._seen) > REMEMBERED_SLOTS:
            self._seen.popitem(last=False)
        return Alert(
            kind=kind, at=event.at, agent_id=event.agent_id, slot_id=slot_id, detail=detail
        )

    def _sync_failed(self, event: Event, error: str) -> Alert | None:
        outage = self._outage
        outage.last_error = error
        agent = event.agent_id
        if agent not in outage.down_since:
            outage.down_since[agent] = outage.last_ok.get(agent, event.at)
        if outage.open_since is not None:
            return None
        over = [s for s in outage.down_since.values() if event.at - s > self.threshold]
        if not over:
            return None
        outage.open_since = min(over)
        return Alert(
            kind=AlertKind.CALENDAR_DOWN,
            at=event.at,
            detail=error,
            since=outage.open_since,
            agents_affected=len(outage.down_since),
            agents_total=max(self.agents_total, len(outage.down_since)),
        )

    def _synced(self, event: Event) -> Alert | None:
        outage = self._outage
        outage.last_ok[event.agent_id] = event.at
        outage.down_since.pop(event.agent_id, None)
        since = outage.open_since
        if since is None:
            return None
        if any(event.at - s > self.threshold for s in outage.down_since.values()):
            return None  # others still fail: the outage is not over yet
        outage.open_since = None
        return Alert(kind=AlertKind.CALENDAR_BACK, at=event.at, since=since)

    @property
    def calendar_down(self) -> bool:
        """An outage alert went out and its recovery has not yet."""
        return self._outage.open_since is not None

    # ---- rate limit ---------------------------------------------------------------

    def _admit(self, alert: Alert) -> list[Notice]:
        now = self.clock.now()
        self._forget_before(now)
        if not self._held and len(self._sent) < self.per_window:
            self._sent.append(now)
            return [alert]
        self._held_count[alert.kind] += 1
        if len(self._held) < HELD_KEPT:
            self._held.append(alert)
        return []

    def _forget_before(self, now: datetime) -> None:
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()

    @property
    def held(self) -> int:
        """Alerts waiting for the summary."""
        return sum(self._held_count.values())

    @property
    def summary_due_at(self) -> datetime | None:
        """When the held alerts may go out as one summary (None: nothing held)."""
        if not self._held_count:
            return None
        if len(self._sent) < self.per_window:
            return self.clock.now()
        return self._sent[-self.per_window] + self.window

    def flush(self, *, force: bool = False) -> AlertSummary | None:
        """The summary of the held alerts once it is due (else None); it counts as a message.

        `force` answers it at once (at shutdown, for the log: nothing held is lost).
        """
        due = self.summary_due_at
        now = self.clock.now()
        if due is None or (due > now and not force):
            return None
        self._forget_before(now)
        summary = AlertSummary(
            at=now,
            count=self.held,
            by_kind=tuple(sorted(self._held_count.items(), key=lambda kv: (-kv[1], kv[0].value))),
            examples=tuple(self._held),
        )
        self._held.clear()
        self._held_count.clear()
        self._sent.append(now)
        return summary
