"""The spawn webhook (`SPAWN_URL`, DESIGN §5): POST the wake, 2xx means woken.

A spawn URL may carry a token in its path or query, so errors name only its
origin; the body carries the agent's own calendar token, never the full one.
Redirects are not followed: a 307 would re-send that body (and the token) to
wherever the answer points, a 302 would turn the wake into a GET whose 200
proves nothing. A 3xx fails the wake, naming where it pointed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import yarl
from tenacity import RetryError

from bot.core.agents import AgentConfig
from bot.core.delays import RetrySettings
from bot.core.models import Slot
from bot.core.waker import WakeResult
from bot.net import TRANSIENT_NETWORK_ERRORS, OwnedSession
from bot.wakers.spawn import wake_id_for
from bot.wakers.spawn_env import SpawnEnvironment

log = logging.getLogger(__name__)

#: A receiver may be restarting: a few tries, waits from half a second up to 8 s.
SPAWN_RETRY = RetrySettings(timeout_s=10.0, attempts=4, backoff_s=0.5, backoff_max_s=8.0)


def _origin(url: str | yarl.URL) -> str:
    """Scheme, host and port only: enough to know which receiver, never its token."""
    parsed = yarl.URL(url)
    if parsed.host is None:
        return "<invalid url>"
    port = "" if parsed.explicit_port is None else f":{parsed.explicit_port}"
    return f"{parsed.scheme}://{parsed.host}{port}"


class _RetryableSpawnError(Exception):
    """A failure worth another try: the receiver may be restarting or overloaded."""


class SpawnUrlWaker:
    """POST the wake to `SPAWN_URL` (or the agent's own `spawn_url`); 2xx means woken.

    Connection errors, timeouts, 5xx, 408 and 429 are retried with exponential
    backoff up to `retry.attempts` times; any other 4xx is the receiver saying no, so
    it fails at once. One aiohttp session is shared by all wakes; `close()` it.
    Anything else raised is a bug, logged by the chain that called the waker.
    """

    name = "spawn_url"

    def __init__(
        self,
        url: str | None,
        *,
        environment: SpawnEnvironment | None = None,
        retry: RetrySettings = SPAWN_RETRY,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._url = url
        self._environment = environment or SpawnEnvironment()
        self._timeout = aiohttp.ClientTimeout(total=retry.timeout_s)
        self._retry = retry
        self._http = OwnedSession(
            session, timeout=self._timeout, headers={"User-Agent": "calendar-moderator"}
        )

    def url_for(self, agent: AgentConfig) -> str | None:
        return agent.spawn_url or self._url

    def can_wake(self, agent: AgentConfig) -> bool:
        return self.url_for(agent) is not None

    def payload(self, agent: AgentConfig, slot: Slot, prompt: str) -> dict[str, Any]:
        """The documented body: `{"agent_id","slot","prompt","wake_id","calendar_url"}`,
        plus `calendar_token` (the agent's own token) when the calendar has a token."""
        body: dict[str, Any] = {
            "agent_id": agent.id,
            "slot": slot.model_dump(mode="json"),
            "prompt": prompt,
            "wake_id": wake_id_for(slot.id),
            "calendar_url": self._environment.calendar_url,
        }
        token = self._environment.agent_token(agent)
        if token is not None:
            body["calendar_token"] = token
        return body

    async def close(self) -> None:
        await self._http.close()

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        url = self.url_for(agent)
        if url is None:
            return WakeResult.failure(self.name, f"no spawn URL configured for agent {agent.id}")
        origin = _origin(url)
        body = self.payload(agent, slot, prompt)
        tries = 0
        try:
            async for attempt in self._retry.retrying(_RetryableSpawnError, reraise=False):
                with attempt:
                    tries += 1
                    result = await self._post_once(url, origin, body, agent, slot, tries)
                    return result
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            error = (
                f"spawn URL {origin} failed {tries} time(s) for slot {slot.id} "
                f"(agent {agent.id}); last error: {cause}"
            )
            log.warning("%s", error)
            return WakeResult.failure(self.name, error)
        # AsyncRetrying either returns through the block or raises RetryError.
        return WakeResult.failure(self.name, f"spawn URL {origin}: no attempt was made")

    async def _post_once(
        self,
        url: str,
        origin: str,
        body: Mapping[str, Any],
        agent: AgentConfig,
        slot: Slot,
        attempt: int,
    ) -> WakeResult:
        session = self._http.get()
        try:
            async with session.post(
                url,
                json=body,
                headers={"Idempotency-Key": str(body["wake_id"])},
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
                location = response.headers.get("Location")
                # Only the start of the answer matters for a message; never read a huge body.
                raw = await response.content.read(2048)
                text = raw.decode("utf-8", errors="replace")
        except TRANSIENT_NETWORK_ERRORS as exc:
            reason = _describe_transport_error(exc)
            log.info(
                "spawn URL %s, slot %s, attempt %d: %s (will retry while attempts remain)",
                origin,
                slot.id,
                attempt,
                reason,
            )
            raise _RetryableSpawnError(reason) from None
        snippet = _snippet(text)
        if 200 <= status < 300:
            log.info(
                "woke agent %s for slot %s via spawn URL %s (HTTP %d)",
                agent.id,
                slot.id,
                origin,
                status,
            )
            return WakeResult.success(self.name, reference=wake_id_for(slot.id))
        if status >= 500 or status in (408, 429):
            log.info(
                "spawn URL %s, slot %s, attempt %d: HTTP %d %s",
                origin,
                slot.id,
                attempt,
                status,
                snippet,
            )
            raise _RetryableSpawnError(f"HTTP {status} {snippet}".strip())
        if 300 <= status < 400:
            error = (
                f"spawn URL {origin} answered the wake of slot {slot.id} (agent {agent.id}) "
                f"with HTTP {status}, {_redirect_target(url, location)}; redirects are not "
                "followed (the wake carries the agent's token): set the URL that answers 2xx"
            )
            log.warning("%s", error)
            return WakeResult.failure(self.name, error)
        error = (
            f"spawn URL {origin} refused the wake of slot {slot.id} (agent {agent.id}) "
            f"with HTTP {status} {snippet}; not retried (a 4xx means the request itself is wrong)"
        ).replace("  ", " ")
        log.warning("%s", error)
        return WakeResult.failure(self.name, error)


def _redirect_target(url: str, location: str | None) -> str:
    """Where a redirect points, as an origin only (its path and query may hold a token)."""
    if not location:
        return "a redirect without a Location"
    try:
        target = yarl.URL(url).join(yarl.URL(location))
    except ValueError:
        return "a redirect to an unreadable Location"
    return f"a redirect to {_origin(target)}"


def _describe_transport_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    # aiohttp's connection errors repeat the URL; keep only the class and the OS reason.
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
    return f"{type(exc).__name__}"


def _snippet(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"
