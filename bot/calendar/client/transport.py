"""The client's transport: one aiohttp session, a timeout on every call, bounded retries.

Transient failures (`bot.net.TRANSIENT_NETWORK_ERRORS`, and 5xx/429 answers)
are retried a bounded number of times with jittered exponential backoff, or
after the server's Retry-After; what is left becomes one `CalendarUnavailable`.
Every other answer goes back to the caller as it came.

Every attempt is told to the `observer`, if one is given, as the route
template (`GET /calendar/slots/{slot_id}`, never a slot id) and the status, or
"error" when no answer came: that is what the bot's metrics count.

Each POST carries an `Idempotency-Key` kept across its retries, so a retried
call whose first answer was lost is replayed by the server instead of being
applied twice or refused as a stale version.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from tenacity import RetryCallState

from bot.calendar.pg.urls import shown_url
from bot.calendar.wire import AGENT_HEADER, IDEMPOTENCY_HEADER, JSON_TYPE
from bot.core.calendar import CalendarUnavailable
from bot.core.delays import Jitter, RetrySettings
from bot.net import TRANSIENT_NETWORK_ERRORS, OwnedSession

log = logging.getLogger(__name__)

#: The calendar client's default: a few quick tries, then `CalendarUnavailable`.
CALENDAR_RETRY = RetrySettings(timeout_s=10.0, attempts=4, backoff_s=0.2, backoff_max_s=5.0)


class _Transient(Exception):
    """A 5xx or 429 answer: worth another attempt, maybe after the server's Retry-After."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


#: Told of every attempt: (`METHOD /route/template`, HTTP status or "error").
RequestObserver = Callable[[str, str], None]

_RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_NETWORK_ERRORS, _Transient)


@dataclass(frozen=True, slots=True)
class Answer:
    """A non-transient answer, read whole."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


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


class Transport:
    """Requests to the calendar behind `base_url`, retried as the module docstring says."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        retry: RetrySettings,
        session: aiohttp.ClientSession | None,
        observer: RequestObserver | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        #: The URL as messages show it: a `user:password@` in it never reaches a log or error.
        self.shown_url = shown_url(self.base_url)
        self.token = token
        self._timeout = aiohttp.ClientTimeout(total=retry.timeout_s)
        self._retry = retry
        self._http = OwnedSession(session)
        self._observer = observer

    async def close(self) -> None:
        """Close the session if this transport made it; a given session is the giver's."""
        await self._http.close()

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gave one, else jittered exponential; both capped."""
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, self._retry.backoff_max_s)
        # Full jitter ("exponential backoff and jitter"): retries of many moderators spread out.
        return self._retry.delay(state.attempt_number, Jitter.FULL)

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
                self._retry.attempts,
                delay,
                source,
            )

        return before_sleep

    def _headers(
        self,
        method: str,
        agent_id: str | None,
        headers: dict[str, str] | None,
        idempotency_key: str | None,
        has_body: bool,
    ) -> dict[str, str]:
        sent: dict[str, str] = {"Accept": JSON_TYPE, **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if agent_id is not None:
            sent[AGENT_HEADER] = agent_id
        if method in ("POST", "PATCH", "DELETE"):
            sent[IDEMPOTENCY_HEADER] = idempotency_key or uuid.uuid4().hex
        if has_body:
            sent["Content-Type"] = JSON_TYPE
        return sent

    async def request(
        self,
        method: str,
        path: str,
        *,
        agent_id: str | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        route: str | None = None,
        timeout_s: float | None = None,
    ) -> Answer:
        """One call with bounded retries; answers any non-transient status for the caller.

        A POST's `Idempotency-Key` is `idempotency_key`, or a fresh one; either
        way the same on every retry of this call. `route` is the path's template
        for the observer (the path itself when it has no variable part). `timeout_s`
        replaces the transport's for this call (a long poll waits longer on purpose).
        """
        what = f"{method} {path}"
        endpoint = f"{method} {route or path}"
        data = json.dumps(body).encode("utf-8") if body is not None else None
        sent = self._headers(method, agent_id, headers, idempotency_key, data is not None)
        url = self.base_url + path
        session = self._http.get()
        retrying = self._retry.retrying(
            _RETRYABLE, self._wait, before_sleep=self._log_retry(what), reraise=True
        )
        try:
            async for attempt in retrying:
                with attempt, _observing(self._observer, endpoint) as observed:
                    async with session.request(
                        method,
                        url,
                        headers=sent,
                        data=data,
                        params=params,
                        timeout=(
                            self._timeout
                            if timeout_s is None
                            else aiohttp.ClientTimeout(total=timeout_s)
                        ),
                        allow_redirects=False,
                    ) as response:
                        payload = await response.read()
                        observed.status = str(response.status)
                        if response.status >= 500 or response.status == 429:
                            raise _Transient(
                                response.status,
                                parse_retry_after(response.headers.get("Retry-After")),
                            )
                        return Answer(response.status, response.headers, payload)
        except _RETRYABLE as exc:
            raise CalendarUnavailable(
                f"calendar {what} at {self.shown_url} failed {self._retry.attempts} time(s); "
                f"last: {_describe(exc)}"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")


@dataclass(slots=True)
class _Observed:
    status: str = "error"


@contextlib.contextmanager
def _observing(observer: RequestObserver | None, endpoint: str) -> Iterator[_Observed]:
    """Tell `observer` how one attempt ended, however it ended (a cancellation is no attempt)."""
    observed = _Observed()
    cancelled = False
    try:
        yield observed
    except asyncio.CancelledError:
        cancelled = True
        raise
    finally:
        if observer is not None and not cancelled:
            observer(endpoint, observed.status)


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no answer"
    if isinstance(exc, _Transient):
        return f"HTTP {exc.status}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
