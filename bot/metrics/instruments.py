"""The bot's Prometheus instruments, filled from the core's typed events.

One `CollectorRegistry` per `ModeratorMetrics` (never the global one), so tests
that run several bots in one process do not collide on a name.

Labels stay of bounded cardinality: the waker's name, an outcome, a route
template, an agent state. Never a slot id or an agent id: with a label per
slot the series grow for ever, and an operator's alert needs the totals.

`moderator_wake_latency_seconds` runs from the slot's `scheduled_at` to the
moment the wake was sent (`AgentWoken`), taken from the claim (`SlotClaimed`
carries the slot); a wake resumed after a restart has no claim in this process
and is not measured rather than measured wrong.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.core.events import AgentWoken, SlotClaimed, Synced, SyncFailed, WakeFailed
from bot.core.moderator import Moderator
from bot.core.status import AgentActivity

#: The chain's name in a failed `WakeResult`: every waker was tried and none worked.
EVERY_WAKER = "chain"
#: Claimed slots waiting for their wake, for the latency; bounded against a leak.
MAX_PENDING_CLAIMS = 10_000
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


class _Agents(Collector):
    """What is read from the moderator's agent vitals at scrape time (no I/O, no slot built).

    `moderator_agents{state}`, and `moderator_oldest_sync_age_seconds` (+Inf
    while an agent has never synced) beside `moderator_sync_interval_seconds`,
    so an alert rule can say "older than 3 intervals" without knowing the setting.
    """

    def __init__(self, sync_interval_s: float) -> None:
        self.moderator: Moderator | None = None
        self.sync_interval_s = sync_interval_s

    def describe(self) -> list[GaugeMetricFamily]:
        return list(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        agents, oldest, interval = self._families()
        counts = dict.fromkeys(AgentActivity, 0)
        ages: list[float] = []
        if self.moderator is not None:
            for vital in self.moderator.vitals():
                counts[vital.state] += 1
                age = vital.last_sync_age_s
                ages.append(math.inf if age is None else age)
        for state, count in counts.items():
            agents.add_metric([state.value], count)
        oldest.add_metric([], max(ages, default=math.inf))
        interval.add_metric([], self.sync_interval_s)
        yield from (agents, oldest, interval)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "moderator_agents", "Configured agents by what they are doing.", labels=["state"]
            ),
            GaugeMetricFamily(
                "moderator_oldest_sync_age_seconds",
                "Seconds since the agent synced longest ago last synced (+Inf: never).",
            ),
            GaugeMetricFamily("moderator_sync_interval_seconds", "SYNC_INTERVAL_S."),
        )


def _attempts(service: str, what: str, route_label: str, registry: CollectorRegistry) -> Counter:
    """`moderator_<service>_requests`: one count per HTTP attempt, so retries show as load."""
    return Counter(
        f"moderator_{service}_requests",
        f"{what} attempts by route template and status (error: no answer).",
        [route_label, "status"],
        registry=registry,
    )


class ModeratorMetrics:
    """The instruments of one moderator; `watch` it, `attach_discord` its client."""

    def __init__(self, *, sync_interval_s: float, discord: bool) -> None:
        self.sync_interval_s = sync_interval_s
        self.registry = CollectorRegistry()
        r = self.registry
        self.wakes = Counter(
            "moderator_wakes",
            'Wakes by the waker that worked, or waker="chain" when every waker failed.',
            ["waker", "outcome"],
            registry=r,
        )
        self.wake_latency = Histogram(
            "moderator_wake_latency_seconds",
            "From a slot's scheduled_at to its wake being sent.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.syncs = Counter("moderator_syncs", "Agent syncs by outcome.", ["outcome"], registry=r)
        self.calendar_requests = _attempts("calendar", "Calendar HTTP", "endpoint", r)
        self.discord_requests = _attempts("discord", "Discord REST", "route", r)
        self.change_feed_up = Gauge(
            "moderator_change_feed_up",
            "1 while the calendar's change feed is connected; 0 until there is one.",
            registry=r,
        )
        #: Only a bot with Discord has a connection to report; headless, the series is absent.
        self.discord_connected: Gauge | None = (
            Gauge(
                "moderator_discord_connected",
                "1 while the gateway session to Discord is up.",
                registry=r,
            )
            if discord
            else None
        )
        self._agents = _Agents(sync_interval_s)
        r.register(self._agents)
        self._discord_up: bool | None = False if discord else None
        self._claimed: OrderedDict[str, datetime] = OrderedDict()

    @property
    def discord_connected_now(self) -> bool | None:
        """Whether the gateway is up; None for a bot without Discord (headless)."""
        return self._discord_up

    def set_discord_connected(self, up: bool) -> None:
        self._discord_up = up
        if self.discord_connected is not None:
            self.discord_connected.set(1 if up else 0)

    @property
    def moderator(self) -> Moderator | None:
        return self._agents.moderator

    def calendar_request(self, endpoint: str, status: str) -> None:
        """The calendar client's observer (`bot.calendar.client.RequestObserver`)."""
        self.calendar_requests.labels(endpoint=endpoint, status=status).inc()

    def watch(self, moderator: Moderator, feed_up: Callable[[], bool] | None = None) -> None:
        """Follow `moderator`'s events and read its agents at scrape time.

        `feed_up` tells, at scrape time, whether changes reach the moderator at once
        (the calendar's change feed); without it the gauge stays 0.
        """
        if feed_up is not None:
            self.change_feed_up.set_function(lambda: 1.0 if feed_up() else 0.0)
        self._agents.moderator = moderator
        bus = moderator.events
        bus.subscribe(Synced, lambda _: self.syncs.labels(outcome="ok").inc())
        bus.subscribe(SyncFailed, lambda _: self.syncs.labels(outcome="failed").inc())
        bus.subscribe(SlotClaimed, self._claimed_slot)
        bus.subscribe(AgentWoken, self._woken)
        bus.subscribe(WakeFailed, self._wake_failed)

    def _claimed_slot(self, event: SlotClaimed) -> None:
        self._claimed[event.slot_id] = event.slot.scheduled_at
        while len(self._claimed) > MAX_PENDING_CLAIMS:
            self._claimed.popitem(last=False)

    def _woken(self, event: AgentWoken) -> None:
        self.wakes.labels(waker=event.via, outcome="ok").inc()
        scheduled = self._claimed.pop(event.slot_id, None)
        if scheduled is not None:
            self.wake_latency.observe(max(0.0, (event.at - scheduled).total_seconds()))

    def _wake_failed(self, event: WakeFailed) -> None:
        self._claimed.pop(event.slot_id, None)
        self.wakes.labels(waker=EVERY_WAKER, outcome="failed").inc()
