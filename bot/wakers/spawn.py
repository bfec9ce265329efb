"""Spawn fallback wakers (DESIGN §5): an HTTP webhook and a local command.

They serve agents that have no Discord presence, and every agent when the
private-channel wake fails. Both answer a failed `WakeResult` with a sentence a
person can act on instead of raising, and neither lets a secret leak: a spawn
URL may carry a token in its path or query, so errors name only its origin, and
a command's arguments (which hold the prompt) are not logged, only its program.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from typing import IO, Any

import aiohttp
import yarl
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from bot.core.agents import AgentConfig
from bot.core.models import Slot
from bot.core.waker import WakeResult
from bot.net import TRANSIENT_NETWORK_ERRORS

log = logging.getLogger(__name__)

# Fixed forever: receivers store wake ids, so changing this would make repeats look new.
_WAKE_ID_NAMESPACE = uuid.UUID("5b0f3c7e-8d1a-4c55-9a57-2f6b8f3e9c41")


def wake_id_for(slot_id: str) -> str:
    """The wake id of a slot: the same on every attempt and after a restart.

    A spawn wake is at-least-once across a crash (the request may have landed
    before the process died), so the receiver needs a stable key to drop repeats.
    """
    return str(uuid.uuid5(_WAKE_ID_NAMESPACE, slot_id))


def _origin(url: str) -> str:
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
    backoff up to `attempts` times; any other 4xx is the receiver saying no, so
    it fails at once. One aiohttp session is shared by all wakes; `close()` it.
    Anything else raised is a bug, logged by the chain that called the waker.
    """

    name = "spawn_url"

    def __init__(
        self,
        url: str | None,
        *,
        calendar_url: str | None = None,
        timeout_s: float = 10.0,
        attempts: int = 4,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self._url = url
        self._calendar_url = calendar_url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._session = session
        self._owns_session = session is None

    def url_for(self, agent: AgentConfig) -> str | None:
        return agent.spawn_url or self._url

    def can_wake(self, agent: AgentConfig) -> bool:
        return self.url_for(agent) is not None

    def payload(self, agent: AgentConfig, slot: Slot, prompt: str) -> dict[str, Any]:
        """The documented body: `{"agent_id","slot","prompt","wake_id","calendar_url"}`."""
        return {
            "agent_id": agent.id,
            "slot": slot.model_dump(mode="json"),
            "prompt": prompt,
            "wake_id": wake_id_for(slot.id),
            "calendar_url": self._calendar_url,
        }

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": "calendar-moderator"}
            )
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        url = self.url_for(agent)
        if url is None:
            return WakeResult.failure(self.name, f"no spawn URL configured for agent {agent.id}")
        origin = _origin(url)
        body = self.payload(agent, slot, prompt)
        tries = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_exponential(multiplier=self._backoff_s, max=self._backoff_max_s),
                retry=retry_if_exception_type(_RetryableSpawnError),
                reraise=False,
            ):
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
        session = await self._get_session()
        try:
            async with session.post(
                url,
                json=body,
                headers={"Idempotency-Key": str(body["wake_id"])},
                timeout=self._timeout,
            ) as response:
                status = response.status
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
        error = (
            f"spawn URL {origin} refused the wake of slot {slot.id} (agent {agent.id}) "
            f"with HTTP {status} {snippet}; not retried (a 4xx means the request itself is wrong)"
        ).replace("  ", " ")
        log.warning("%s", error)
        return WakeResult.failure(self.name, error)


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


_PLACEHOLDER = re.compile(r"\{(agent_id|slot_id|prompt)\}")


def substitute_argv(template: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Fill `{agent_id}`, `{slot_id}` and `{prompt}` in each argument, in one pass.

    Not `str.format`: other braces in the template are kept as they are, and a
    value that itself contains `{slot_id}` is not substituted again. Each
    template argument stays exactly one argument, whatever the value holds.
    """
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in template]


class _Capture:
    """One output stream of the child, kept in an anonymous temporary file.

    Not a pipe: a command that starts the agent in the background and exits
    leaves the agent holding its stdout; with a pipe we would either wait for
    the agent to finish or, by closing our end, kill it with SIGPIPE. A file
    lets the agent write on while we read only the first `limit` bytes.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in read()

    def read(self) -> str:
        try:
            size = os.fstat(self.file.fileno()).st_size
            self.file.seek(0)
            kept = self.file.read(self.limit)
        finally:
            self.file.close()
        shown = kept.decode("utf-8", errors="replace").strip()
        if size > len(kept):
            shown += f" […{size - len(kept)} more bytes]"
        return shown


class SpawnCommandWaker:
    """Run `SPAWN_COMMAND` (or the agent's own `spawn_command`); exit 0 means woken.

    The argv template is used without a shell. The command should start the
    agent and return: it is killed (with its process group) after `timeout_s`
    and the wake counts as failed. Output is captured (bounded) into the log.
    The child also gets `WAKE_ID`, `SLOT_ID`, `AGENT_ID` and (when served)
    `CALENDAR_URL` in its environment.
    """

    name = "spawn_command"

    def __init__(
        self,
        argv: Sequence[str] | None,
        *,
        calendar_url: str | None = None,
        timeout_s: float = 60.0,
        output_limit: int = 4096,
    ) -> None:
        self._argv = tuple(argv) if argv else None
        self._calendar_url = calendar_url
        self._timeout_s = timeout_s
        self._output_limit = output_limit

    def argv_for(self, agent: AgentConfig) -> tuple[str, ...] | None:
        return agent.spawn_command or self._argv

    def can_wake(self, agent: AgentConfig) -> bool:
        return self.argv_for(agent) is not None

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        template = self.argv_for(agent)
        if not template:
            return WakeResult.failure(
                self.name, f"no spawn command configured for agent {agent.id}"
            )
        argv = substitute_argv(
            template, {"agent_id": agent.id, "slot_id": slot.id, "prompt": prompt}
        )
        program = argv[0]
        env = dict(os.environ)
        env.update({"WAKE_ID": wake_id_for(slot.id), "SLOT_ID": slot.id, "AGENT_ID": agent.id})
        if self._calendar_url:
            env["CALENDAR_URL"] = self._calendar_url
        # Small local files: creating and reading them does not need a thread.
        out, err = _Capture(self._output_limit), _Capture(self._output_limit)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out.file,
                stderr=err.file,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            _read_both(out, err)
            error = (
                f"spawn command {program!r} could not be started for slot {slot.id} "
                f"(agent {agent.id}): {exc.strerror or exc}"
            )
            log.warning("%s", error)
            return WakeResult.failure(self.name, error)

        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), self._timeout_s)
        except TimeoutError:
            timed_out = True
            _kill_group(proc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10.0)
        except asyncio.CancelledError:
            _kill_group(proc)
            raise
        finally:
            stdout, stderr = _read_both(out, err)

        captured = _format_output(stdout, stderr)
        short = _format_output(stdout, stderr, limit=300)
        where = f"spawn command {program!r} for slot {slot.id} (agent {agent.id})"
        if timed_out:
            what = f"did not finish within {self._timeout_s:g} s and was killed"
            log.warning("%s %s%s", where, what, captured)
            return WakeResult.failure(self.name, f"{where} {what}{short}")
        code = proc.returncode
        if code == 0:
            log.info(
                "woke agent %s for slot %s via spawn command %r%s",
                agent.id,
                slot.id,
                program,
                captured,
            )
            return WakeResult.success(self.name, reference=f"pid {proc.pid}")
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited {code}"
        log.warning("%s %s%s", where, how, captured)
        return WakeResult.failure(self.name, f"{where} {how}{short}")


def _read_both(out: _Capture, err: _Capture) -> tuple[str, str]:
    return out.read(), err.read()


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kill the child and anything it started (it leads its own session)."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def _format_output(stdout: str, stderr: str, limit: int | None = None) -> str:
    """The captured output as a suffix for a message; `limit` shortens each stream."""
    parts = []
    for label, text in (("stdout", stdout), ("stderr", stderr)):
        if text:
            if limit is not None and len(text) > limit:
                text = text[:limit] + "…"
            parts.append(f"{label}: {text}")
    return ("; " + "; ".join(parts)) if parts else ""
