"""`HttpCalendar`: the `Calendar` interface over DESIGN §3's REST API.

A flaky backend must never hang or crash the scheduler: every request has a
timeout, transient failures (connection errors, timeouts, 5xx, 429) are retried
a bounded number of times with jittered exponential backoff, and what is left
becomes one typed `CalendarError`. Answers are validated; a single malformed
slot in a list is dropped (and logged) rather than costing the whole schedule.

Each POST carries an `Idempotency-Key` kept across its retries, so a retried
call whose first answer was lost is replayed by the server instead of being
applied twice or refused as a stale version. A caller may name the key itself
(`transition(..., idempotency_key=...)`); the scheduler does so for `start`,
where the key is its claim key: the calendar keeps it with the slot, so the
same `start` sent again later, even by a restarted moderator, is answered
200 if and only if the slot is held by that very claim.

A day answer with a slot that had to be skipped as malformed comes back
without its ETag, so the next sync fetches the whole day again and sees the
slot once the calendar fixes it, instead of being told 304.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp
from multidict import CIMultiDictProxy
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from bot.core.calendar import (
    BadRequest,
    CalendarAuthError,
    CalendarError,
    CalendarUnavailable,
    DayResult,
    SlotNotFound,
    TransitionConflict,
)
from bot.core.models import (
    Action,
    AgentStatus,
    DaySchedule,
    ErrorBody,
    HeartbeatStatus,
    Slot,
    SlotCreate,
    describe_validation,
)

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class _Transient(Exception):
    """A 5xx or 429 answer: worth another attempt, maybe after the server's Retry-After."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


_RETRYABLE = (aiohttp.ClientError, asyncio.TimeoutError, _Transient)


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class _DayEnvelope(BaseModel):
    date: date
    agent_id: str
    timezone: str
    slots: list[Any]


class _SlotList(BaseModel):
    slots: list[Any]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN is unusable


class HttpCalendar:
    """The calendar behind `base_url`, spoken to over one shared aiohttp session."""

    def __init__(
        self,
        base_url: str,
        *,
        timezone: ZoneInfo,
        token: str | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if timeout <= 0 or backoff_base < 0 or backoff_max < 0:
            raise ValueError("timeout must be positive and backoffs not negative")
        self._base_url = base_url.rstrip("/")
        self._tz = timezone
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._session = session
        self._owns_session = session is None
        self._zone_warned = False

    def __repr__(self) -> str:
        auth = "token set" if self._token else "no token"
        return f"HttpCalendar({self._base_url!r}, {auth})"

    @property
    def timezone(self) -> ZoneInfo:
        return self._tz

    # ---- transport ----------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gave one, else jittered exponential; both capped."""
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self._backoff_max)
        growth: float = 2.0 ** (state.attempt_number - 1)
        ceiling = min(self._backoff_max, self._backoff_base * growth)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _log_retry(self, what: str) -> Callable[[RetryCallState], None]:
        def before_sleep(state: RetryCallState) -> None:
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None else None
            delay = state.upcoming_sleep
            source = (
                " (Retry-After)"
                if isinstance(exc, _Transient) and exc.retry_after is not None
                else ""
            )
            log.info(
                "calendar %s failed (%s), attempt %d/%d; retrying in %.2f s%s",
                what,
                _describe(exc),
                state.attempt_number,
                self._max_attempts,
                delay,
                source,
            )

        return before_sleep

    async def _request(
        self,
        method: str,
        path: str,
        *,
        agent_id: str | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> _Answer:
        """One call with bounded retries; answers any non-transient status for the caller.

        A POST's `Idempotency-Key` is `idempotency_key`, or a fresh one; either
        way the same on every retry of this call.
        """
        what = f"{method} {path}"
        sent: dict[str, str] = {"Accept": "application/json", **(headers or {})}
        if self._token:
            sent["Authorization"] = f"Bearer {self._token}"
        if agent_id is not None:
            sent["X-Agent-Id"] = agent_id
        if method == "POST":
            sent["Idempotency-Key"] = idempotency_key or uuid.uuid4().hex
        data = json.dumps(body).encode("utf-8") if body is not None else None
        if data is not None:
            sent["Content-Type"] = "application/json"
        url = self._base_url + path
        session = self._get_session()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_RETRYABLE),
            before_sleep=self._log_retry(what),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    async with session.request(
                        method,
                        url,
                        headers=sent,
                        data=data,
                        params=params,
                        timeout=self._timeout,
                        allow_redirects=False,
                    ) as response:
                        payload = await response.read()
                        if response.status >= 500 or response.status == 429:
                            raise _Transient(
                                response.status,
                                parse_retry_after(response.headers.get("Retry-After")),
                            )
                        return _Answer(response.status, response.headers, payload)
        except _RETRYABLE as exc:
            raise CalendarUnavailable(
                f"calendar {what} at {self._base_url} failed {self._max_attempts} time(s); "
                f"last: {_describe(exc)}"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    # ---- answers ------------------------------------------------------------

    @staticmethod
    def _json(answer: _Answer, what: str) -> Any:
        try:
            return json.loads(answer.body)
        except (ValueError, UnicodeDecodeError):
            raise CalendarUnavailable(
                f"malformed answer from the calendar for {what}: not JSON "
                f"(HTTP {answer.status}, {len(answer.body)} bytes)"
            ) from None

    def _error(self, answer: _Answer, what: str) -> CalendarError:
        """The typed error for a refusal; details come from the server, never from us."""
        code, detail, slot = f"http_{answer.status}", f"HTTP {answer.status}", None
        try:
            data = json.loads(answer.body)
            parsed = ErrorBody.model_validate(data)
            code, detail = parsed.error, parsed.detail
            if isinstance(data, dict) and data.get("slot") is not None:
                slot = Slot.model_validate(data["slot"])
        except (ValueError, UnicodeDecodeError, ValidationError):
            pass  # a bare status still maps to the right error type
        message = f"{what}: {detail}"
        if answer.status == 401:
            return CalendarAuthError(message, code=code)
        if answer.status == 404:
            return SlotNotFound(message, code=code)
        if answer.status == 409:
            return TransitionConflict(message, code=code, slot=slot)
        if 400 <= answer.status < 500:
            return BadRequest(message, code=code)
        return CalendarUnavailable(f"{what}: unexpected HTTP {answer.status}", code=code)

    @staticmethod
    def _model(model: type[M], data: Any, what: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise CalendarUnavailable(
                f"malformed answer from the calendar for {what}: {_summary(exc)}"
            ) from None

    def _slots(self, items: list[Any], what: str) -> tuple[list[Slot], int]:
        """Validate each slot alone: a bad one is logged, skipped and counted; the rest kept."""
        slots: list[Slot] = []
        skipped = 0
        for item in items:
            try:
                slots.append(Slot.model_validate(item))
            except ValidationError as exc:
                skipped += 1
                slot_id = item.get("id") if isinstance(item, dict) else None
                log.warning(
                    "calendar %s: skipping a malformed slot (id %s): %s",
                    what,
                    slot_id if isinstance(slot_id, str) and slot_id else "unknown",
                    _summary(exc),
                )
        return slots, skipped

    def _expect(self, answer: _Answer, what: str, *ok: int) -> Any:
        if answer.status not in ok:
            raise self._error(answer, what)
        return self._json(answer, what)

    # ---- the Calendar protocol ----------------------------------------------

    async def get_day(self, agent_id: str, day: date, etag: str | None = None) -> DayResult:
        what = f"GET /calendar/day {day.isoformat()} for {agent_id}"
        headers = {"If-None-Match": etag} if etag else None
        answer = await self._request(
            "GET",
            "/calendar/day",
            agent_id=agent_id,
            params={"date": day.isoformat()},
            headers=headers,
        )
        if answer.status == 304:
            return DayResult(schedule=None, etag=answer.headers.get("ETag", etag))
        data = self._expect(answer, what, 200)
        envelope = self._model(_DayEnvelope, data, what)
        if envelope.timezone != self._tz.key and not self._zone_warned:
            self._zone_warned = True
            log.warning(
                "the calendar at %s uses time zone %s but TIMEZONE is %s; days are the calendar's",
                self._base_url,
                envelope.timezone,
                self._tz.key,
            )
        slots, skipped = self._slots(envelope.slots, what)
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
        what = f"POST /calendar/agent/heartbeat for {agent_id}"
        answer = await self._request(
            "POST",
            "/calendar/agent/heartbeat",
            agent_id=agent_id,
            body={"status": HeartbeatStatus(status).value, "current_slot_id": current_slot_id},
        )
        data = self._expect(answer, what, 200)
        envelope = self._model(_SlotList, data, what)
        slots, _ = self._slots(envelope.slots, what)
        return slots

    async def agent_status(self, agent_id: str) -> AgentStatus:
        what = f"GET /calendar/agent/status for {agent_id}"
        answer = await self._request("GET", "/calendar/agent/status", agent_id=agent_id)
        return self._model(AgentStatus, self._expect(answer, what, 200), what)

    async def create_slot(self, new: SlotCreate, agent_id: str | None = None) -> Slot:
        what = "POST /calendar/slots"
        answer = await self._request(
            "POST",
            "/calendar/slots",
            agent_id=agent_id,
            body=new.model_dump(mode="json", exclude_none=True),
        )
        return self._model(Slot, self._expect(answer, what, 201, 200), what)

    async def get_slot(self, slot_id: str, agent_id: str | None = None) -> Slot:
        path = f"/calendar/slots/{quote(slot_id, safe='')}"
        what = f"GET {path}"
        answer = await self._request("GET", path, agent_id=agent_id)
        return self._model(Slot, self._expect(answer, what, 200), what)

    async def transition(
        self,
        slot_id: str,
        action: Action,
        *,
        agent_id: str | None = None,
        expected_version: int | None = None,
        note: str | None = None,
        until: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> Slot:
        """See `Calendar.transition`; `idempotency_key` is sent as the Idempotency-Key header."""
        name = action.value if isinstance(action, Action) else str(action)
        path = f"/calendar/slots/{quote(slot_id, safe='')}/{quote(name, safe='')}"
        what = f"POST {path}"
        body: dict[str, Any] = {}
        if expected_version is not None:
            body["expected_version"] = expected_version
        if note is not None:
            body["note"] = note
        if until is not None:
            if until.utcoffset() is None:
                raise BadRequest("`until` needs a UTC offset", code="naive_datetime")
            body["until"] = until.isoformat()
        answer = await self._request(
            "POST", path, agent_id=agent_id, body=body, idempotency_key=idempotency_key
        )
        return self._model(Slot, self._expect(answer, what, 200), what)

    async def close(self) -> None:
        """Close the session if this client made it; a given session is the giver's."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no answer"
    if isinstance(exc, _Transient):
        return f"HTTP {exc.status}"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _summary(exc: ValidationError) -> str:
    """A malformed answer's first few problems (a whole day's answer may have many)."""
    return describe_validation(exc, whole="value", limit=5)
