"""The spawn command (`SPAWN_COMMAND`, DESIGN §5): run a local program, exit 0 means woken.

No shell, a clean environment (`spawn_env`), output captured bounded; a
command's arguments (which hold the prompt) are never logged, only its program.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO

from bot.core.agents import AgentConfig
from bot.core.models import Slot
from bot.core.waker import WakeResult
from bot.wakers.spawn_env import SpawnEnvironment

log = logging.getLogger(__name__)


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
    The child's environment is built by `environment` (never the moderator's own).
    """

    name = "spawn_command"

    def __init__(
        self,
        argv: Sequence[str] | None,
        *,
        environment: SpawnEnvironment | None = None,
        timeout_s: float = 60.0,
        output_limit: int = 4096,
    ) -> None:
        self._argv = tuple(argv) if argv else None
        self._environment = environment or SpawnEnvironment()
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
        env = self._environment.for_wake(agent, slot)
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
