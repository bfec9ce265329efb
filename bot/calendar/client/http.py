"""`HttpCalendar`: the `Calendar` interface over DESIGN §3's REST API.

A flaky backend must never hang or crash the scheduler: the transport
(`bot.calendar.client.transport`) bounds and retries every request, and the
answers (`bot.calendar.client.answers`) are validated into the models or one
typed `CalendarError`.

A caller may name a POST's Idempotency-Key itself (`transition(...,
idempotency_key=...)`); the scheduler does so for `start`, where the key is its
claim key: the calendar keeps it with the slot, so the same `start` sent again
later, even by a restarted moderator, is answered 200 if and only if the slot
is held by that very claim.

A day answer with a slot that had to be skipped as malformed comes back
without its ETag, so the next sync fetches the whole day again and sees the
slot once the calendar fixes it, instead of being told 304.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any, Unpack
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp

from bot.calendar.client.answers import (
    CalendarInfo,
    DayEnvelope,
    HeartbeatBatchAnswer,
    SeriesList,
    SlotList,
    expect,
    model_of,
    slots_of,
)
from bot.calendar.client.feed import POLL_WAIT_S, ChangeFeed
from bot.calendar.client.transport import CALENDAR_RETRY, Answer, RequestObserver, Transport
from bot.calendar.wire import (
    AGENT_STATUS_PATH,
    BATCH_HEARTBEAT_PATH,
    DAY_PATH,
    HEARTBEAT_PATH,
    INFO_PATH,
    SERIES_PATH,
    SLOTS_PATH,
)
from bot.core.calendar import ChangeListener, DayResult, FeatureMissing, TransitionOptions
from bot.core.delays import RetrySettings
from bot.core.models import (
    Action,
    AgentHeartbeat,
    AgentStatus,
    DaySchedule,
    HeartbeatStatus,
    Series,
    SeriesCreate,
    SeriesEdit,
    Slot,
    SlotCreate,
    SlotEdit,
    SlotStatus,
)
from bot.core.shard_status import FeedHealth
from bot.core.validation import check_range, parse_heartbeat_status, require_offset

log = logging.getLogger(__name__)


#: Route templates for the request counts: never a slot id in a metric label.
SLOT_ROUTE = f"{SLOTS_PATH}/{{slot_id}}"
TRANSITION_ROUTE = f"{SLOT_ROUTE}/{{action}}"
SERIES_ROUTE = f"{SERIES_PATH}/{{series_id}}"


def _slot_path(slot_id: str) -> str:
    return f"{SLOTS_PATH}/{quote(slot_id, safe='')}"


class HttpCalendar:
    """The calendar behind `base_url`, spoken to over one shared aiohttp session."""

    def __init__(
        self,
        base_url: str,
        *,
        timezone: ZoneInfo,
        token: str | None = None,
        retry: RetrySettings = CALENDAR_RETRY,
        session: aiohttp.ClientSession | None = None,
        observer: RequestObserver | None = None,
        agents: Iterable[str] = (),
        feed_wait_s: float = POLL_WAIT_S,
    ) -> None:
        """`agents` are re-read when the change feed cannot say what changed (a reset);
        `feed_wait_s` is how long the server holds each poll of it."""
        self._transport = Transport(
            base_url,
            token=token,
            retry=retry,
            session=session,
            observer=observer,
        )
        self._tz = timezone
        self._zone_warned = False
        self._feed = ChangeFeed(self._transport, agents=agents, wait_s=feed_wait_s)

    def __repr__(self) -> str:
        auth = "token set" if self._transport.token else "no token"
        return f"HttpCalendar({self._transport.shown_url!r}, {auth})"

    @property
    def timezone(self) -> ZoneInfo:
        return self._tz

    async def follow(self, listener: ChangeListener) -> Callable[[], None]:
        """`ChangeSource`: the server's change feed (DESIGN §4.1); on a v1 server, nothing."""
        return await self._feed.follow(listener)

    @property
    def change_feed_up(self) -> bool:
        """Whether the change feed answers now (False on a v1 server or while it fails)."""
        return self._feed.up

    @property
    def change_feed_health(self) -> FeedHealth:
        """`FeedReporter`: the feed's state and since when it is down, for /status."""
        return self._feed.health

    def _check_zone(self, zone: str) -> None:
        """Warn once when the calendar's days end at another midnight than TIMEZONE's."""
        if zone != self._tz.key and not self._zone_warned:
            self._zone_warned = True
            log.warning(
                "the calendar at %s uses time zone %s but TIMEZONE is %s; days are the calendar's",
                self._transport.shown_url,
                zone,
                self._tz.key,
            )

    async def get_day(self, agent_id: str, day: date, etag: str | None = None) -> DayResult:
        what = f"GET {DAY_PATH} {day.isoformat()} for {agent_id}"
        headers = {"If-None-Match": etag} if etag else None
        answer = await self._transport.request(
            "GET", DAY_PATH, agent_id=agent_id, params={"date": day.isoformat()}, headers=headers
        )
        if answer.status == 304:
            return DayResult(schedule=None, etag=answer.headers.get("ETag", etag))
        envelope = model_of(DayEnvelope, expect(answer, what, 200), what)
        self._check_zone(envelope.timezone)
        slots, skipped = slots_of(envelope.slots, what)
        schedule = DaySchedule(
            date=envelope.date, agent_id=envelope.agent_id, timezone=envelope.timezone, slots=slots
        )
        # The ETag covers the skipped slot too: keeping it would make the next sync a 304
        # and hide the slot even after the calendar fixes it. Without it, the day comes again.
        etag = answer.headers.get("ETag") if skipped == 0 else None
        return DayResult(schedule=schedule, etag=etag)

    async def heartbeat(
        self, agent_id: str, status: HeartbeatStatus, current_slot_id: str | None = None
    ) -> list[Slot]:
        what = f"POST {HEARTBEAT_PATH} for {agent_id}"
        body = {"status": parse_heartbeat_status(status).value, "current_slot_id": current_slot_id}
        answer = await self._transport.request("POST", HEARTBEAT_PATH, agent_id=agent_id, body=body)
        envelope = model_of(SlotList, expect(answer, what, 200), what)
        slots, _ = slots_of(envelope.slots, what)
        return slots

    async def heartbeat_many(self, beats: Sequence[AgentHeartbeat]) -> dict[str, list[Slot]]:
        """Sent as given: the server holds the batch to its rules, so a refusal is its own."""
        what = f"POST {BATCH_HEARTBEAT_PATH} for {len(beats)} agents"
        body = {"agents": [entry.model_dump(mode="json") for entry in beats]}
        answer = await self._transport.request("POST", BATCH_HEARTBEAT_PATH, body=body)
        envelope = model_of(HeartbeatBatchAnswer, expect(answer, what, 200), what)
        return {
            agent: slots_of(listed.slots, f"{what} ({agent})")[0]
            for agent, listed in envelope.agents.items()
        }

    async def agent_status(self, agent_id: str) -> AgentStatus:
        what = f"GET {AGENT_STATUS_PATH} for {agent_id}"
        answer = await self._transport.request("GET", AGENT_STATUS_PATH, agent_id=agent_id)
        return model_of(AgentStatus, expect(answer, what, 200), what)

    async def create_slot(self, new: SlotCreate, agent_id: str | None = None) -> Slot:
        what = f"POST {SLOTS_PATH}"
        answer = await self._transport.request(
            "POST",
            SLOTS_PATH,
            agent_id=agent_id,
            body=new.model_dump(mode="json", exclude_none=True),
        )
        return model_of(Slot, expect(answer, what, 201, 200), what)

    async def get_slot(self, slot_id: str, agent_id: str | None = None) -> Slot:
        path = _slot_path(slot_id)
        what = f"GET {path}"
        answer = await self._transport.request("GET", path, agent_id=agent_id, route=SLOT_ROUTE)
        return model_of(Slot, expect(answer, what, 200), what)

    async def transition(
        self,
        slot_id: str,
        action: Action,
        **options: Unpack[TransitionOptions],
    ) -> Slot:
        """See `Calendar.transition`; `idempotency_key` is sent as the Idempotency-Key header."""
        name = action.value if isinstance(action, Action) else str(action)
        path = f"{_slot_path(slot_id)}/{quote(name, safe='')}"
        what = f"POST {path}"
        body: dict[str, Any] = {}
        for field in ("expected_version", "note"):
            if options.get(field) is not None:
                body[field] = options.get(field)
        until = options.get("until")
        if until is not None:
            body["until"] = require_offset(until).isoformat()
        answer = await self._transport.request(
            "POST",
            path,
            agent_id=options.get("agent_id"),
            body=body,
            idempotency_key=options.get("idempotency_key"),
            route=TRANSITION_ROUTE,
        )
        return model_of(Slot, expect(answer, what, 200), what)

    async def edit_slot(self, slot_id: str, edit: SlotEdit, agent_id: str | None = None) -> Slot:
        path = _slot_path(slot_id)
        what = f"PATCH {path}"
        body = edit.model_dump(mode="json", include=edit.model_fields_set, exclude_none=True)
        answer = await self._transport.request(
            "PATCH", path, agent_id=agent_id, body=body, route=SLOT_ROUTE
        )
        return model_of(Slot, expect(answer, what, 200), what)

    async def list_range(
        self, agent_id: str, start: datetime, end: datetime, status: SlotStatus | None = None
    ) -> list[Slot]:
        check_range(start, end)
        what = f"GET {SLOTS_PATH} for {agent_id}"
        params = {"agent_id": agent_id, "from": start.isoformat(), "to": end.isoformat()}
        if status is not None:
            params["status"] = status.value
        answer = await self._transport.request("GET", SLOTS_PATH, agent_id=agent_id, params=params)
        envelope = model_of(SlotList, expect(answer, what, 200), what)
        slots, _ = slots_of(envelope.slots, what)
        return slots

    async def features(self) -> frozenset[str]:
        """`GET /calendar`'s features; a 404 there is a v1 server, which has none."""
        what = f"GET {INFO_PATH}"
        answer = await self._transport.request("GET", INFO_PATH)
        if answer.status == 404:
            return frozenset()
        return frozenset(model_of(CalendarInfo, expect(answer, what, 200), what).features)

    async def create_series(self, new: SeriesCreate, agent_id: str | None = None) -> Series:
        what = f"POST {SERIES_PATH}"
        body = new.model_dump(mode="json", exclude_none=True)
        answer = await self._transport.request("POST", SERIES_PATH, agent_id=agent_id, body=body)
        await self._unless_missing(answer, "series")
        return model_of(Series, expect(answer, what, 201, 200), what)

    async def get_series(self, series_id: str, agent_id: str | None = None) -> Series:
        return await self._one_series("GET", series_id, agent_id)

    async def list_series(self, agent_id: str | None = None) -> list[Series]:
        what = f"GET {SERIES_PATH}"
        params = {"agent_id": agent_id} if agent_id is not None else None
        answer = await self._transport.request("GET", SERIES_PATH, agent_id=agent_id, params=params)
        await self._unless_missing(answer, "series")
        return model_of(SeriesList, expect(answer, what, 200), what).series

    async def edit_series(
        self, series_id: str, edit: SeriesEdit, agent_id: str | None = None
    ) -> Series:
        body = edit.model_dump(mode="json", include=edit.model_fields_set, exclude_none=True)
        return await self._one_series("PATCH", series_id, agent_id, body)

    async def end_series(self, series_id: str, agent_id: str | None = None) -> Series:
        return await self._one_series("DELETE", series_id, agent_id)

    async def _one_series(
        self,
        method: str,
        series_id: str,
        agent_id: str | None,
        body: dict[str, Any] | None = None,
    ) -> Series:
        path = f"{SERIES_PATH}/{quote(series_id, safe='')}"
        what = f"{method} {path}"
        answer = await self._transport.request(
            method, path, agent_id=agent_id, body=body, route=SERIES_ROUTE
        )
        await self._unless_missing(answer, "series")
        return model_of(Series, expect(answer, what, 200), what)

    async def _unless_missing(self, answer: Answer, feature: str) -> None:
        """A 404 from a server without `feature` (API 1) is said as such, not "no route"
        (DESIGN §3); a 404 where the feature exists is the thing not found."""
        if answer.status == 404 and feature not in await self.features():
            raise FeatureMissing(feature)

    async def close(self) -> None:
        """Stop following the feed; close the session if this client made it (a given
        session is the giver's)."""
        await self._feed.close()
        await self._transport.close()
