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
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

from bot.core.agents import AgentConfig
from bot.core.models import Slot
from bot.core.waker import WakeResult
from bot.wakers.spawn_env import SpawnEnvironment

log = logging.getLogger(__name__)


_PLACEHOLDER = re.compile(r"\{(agent_id|slot_id|prompt)\}")
#: Said when a process the command started keeps its output (see `_Capture`).
_HELD = (
    " (a process it started still holds its output: read and dropped, never stored; "
    "redirect the agent's output to a file to keep it)"
)
#: Reads and drops what an agent writes to the output its command left it, once the
#: moderator stops reading: a writer must never meet a broken pipe (see `_Capture`).
_SINK = shutil.which("cat")
_DRAINS: list[subprocess.Popen[bytes]] = []


def substitute_argv(template: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Fill `{agent_id}`, `{slot_id}` and `{prompt}` in each argument, in one pass.

    Not `str.format`: other braces in the template are kept as they are, and a
    value that itself contains `{slot_id}` is not substituted again. Each
    template argument stays exactly one argument, whatever the value holds.
    """
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in template]


class _Capture:
    """One output stream of the child: a pipe read as it fills, its first `limit` bytes kept.

    Read from the start, so the child never blocks on a full pipe; past `limit` it is
    counted and dropped. A command that starts the agent in the background and exits
    may leave the agent holding the pipe: the wake does not wait for it, and what the
    agent writes there is drained and dropped (never stored). Not a file: that would
    keep everything the agent writes, out of sight of `du` once deleted. Closing our
    end would give the agent a broken pipe (SIGPIPE, or an exception at its next
    print), so when the moderator stops, the read end is handed to a small process of
    its own (`hand_off`) that drains it until the agent closes it.
    """

    #: Read at most this much per turn of the event loop, so a flood cannot starve it.
    _TURN = 16 * 65536

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0
        self._loop = asyncio.get_running_loop()
        self._fd, self.child_fd = os.pipe()
        os.set_blocking(self._fd, False)
        self._loop.add_reader(self._fd, self._drain)

    @property
    def open(self) -> bool:
        """Whether someone may still write to it (the child, or what it started)."""
        return self._fd >= 0

    def started(self) -> None:
        """The child has its own copy of the write end: ours would hide its end-of-file."""
        os.close(self.child_fd)
        self.child_fd = -1

    def _drain(self) -> None:
        read = 0
        while self._fd >= 0 and read < self._TURN:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            read += len(chunk)
            room = max(0, self.limit - len(self.kept))
            self.kept += chunk[:room]
            self.dropped += len(chunk) - min(room, len(chunk))

    def take(self) -> str:
        """What the child wrote so far, as text for a log line (the pipe may stay open)."""
        self._drain()  # what it wrote just before exiting, not yet seen by the loop
        shown = bytes(self.kept).decode("utf-8", errors="replace").strip()
        if self.dropped:
            shown += f" […{self.dropped} more bytes]"
        return shown

    def hand_off(self) -> None:
        """The moderator stops: a detached drain takes over reading, then ours closes."""
        if self._fd < 0:
            return
        self._drain()
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.set_blocking(self._fd, True)  # the flag is the pipe's: the drain waits on it
            sink = [_SINK] if _SINK else [sys.executable, "-c", _DRAIN_IN_PYTHON]
            try:
                # Kept, so it is not collected (and warned about) while it runs; once the
                # moderator exits, init reaps it.
                _DRAINS[:] = [d for d in _DRAINS if d.poll() is None]
                drain = subprocess.Popen(
                    sink,
                    stdin=self._fd,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                _DRAINS.append(drain)
            except OSError as exc:
                log.warning("cannot hand an agent's output to a drain (%s): closing it", exc)
        self.close()

    def close(self) -> None:
        """Stop reading; a writer left holding the pipe gets EPIPE from now on."""
        if self.child_fd >= 0:
            self.started()
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)  # False when `hand_off` took it already
            os.close(self._fd)
            self._fd = -1


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
        #: Outputs still held by what a command started; dropped once closed.
        self._draining: set[_Capture] = set()

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
        out, err = _Capture(self._output_limit), _Capture(self._output_limit)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out.child_fd,
                stderr=err.child_fd,
                env=env,
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            # ValueError: a NUL byte in an argument (a prompt stored by an older version).
            _close_both(out, err)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            error = (
                f"spawn command {program!r} could not be started for slot {slot.id} "
                f"(agent {agent.id}): {reason}"
            )
            log.warning("%s", error)
            return WakeResult.failure(self.name, error)
        out.started()
        err.started()

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
            _close_both(out, err)
            raise
        stdout, stderr = out.take(), err.take()
        self._draining = {c for c in (*self._draining, out, err) if c.open}

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
                "woke agent %s for slot %s via spawn command %r%s%s",
                agent.id,
                slot.id,
                program,
                captured,
                _HELD if out.open or err.open else "",
            )
            return WakeResult.success(self.name, reference=f"pid {proc.pid}")
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited {code}"
        log.warning("%s %s%s", where, how, captured)
        return WakeResult.failure(self.name, f"{where} {how}{short}")

    def close(self) -> None:
        """Hand the output of agents that outlived their command to a drain (`_Capture`)."""
        for capture in self._draining:
            capture.hand_off()
        self._draining = set()


_DRAIN_IN_PYTHON = "import os\nwhile os.read(0, 65536):\n    pass\n"


def _close_both(out: _Capture, err: _Capture) -> None:
    out.close()
    err.close()


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
    """The captured output as a suffix for a message; `limit` shortens each stream.

    Escaped: a line break or control character the child printed would otherwise
    start what looks like a log record of its own (a forged time, level and logger).
    """
    parts = []
    for label, text in (("stdout", stdout), ("stderr", stderr)):
        if text:
            if limit is not None and len(text) > limit:
                text = text[:limit] + "…"
            parts.append(f"{label}: {_escaped(text)}")
    return ("; " + "; ".join(parts)) if parts else ""


def _escaped(text: str) -> str:
    """`text` on one line: what does not print (\\n, \\x1b, U+2028...) written as its escape."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
