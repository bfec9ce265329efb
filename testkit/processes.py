"""Running `python -m bot` as a subprocess against the fake Discord (restarts, signals, exits).

The subprocess reaches the fake on 127.0.0.1 through `fake.env()`; its calendar
and state are files in its folder, which the caller may open too
(`open_calendar_file`). Its output goes to a log file that `wait_log` polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.calendar.store import EmbeddedCalendar
from bot.core.models import Slot, SlotCreate, SlotStatus
from testkit.bots import DEFAULT_AGENTS, WAIT_S, agents_toml
from testkit.fakediscord import FakeDiscord

REPO_ROOT = Path(__file__).resolve().parents[1]
UTC_ZONE = ZoneInfo("UTC")


def bot_env(
    fake: FakeDiscord | None,
    tmp_path: Path,
    *,
    agents: Sequence[str] = DEFAULT_AGENTS,
    agent_extra: Mapping[str, Mapping[str, Any]] | None = None,
    **settings: str,
) -> dict[str, str]:
    """The environment for `python -m bot` in `tmp_path`: the fake's Discord variables (when a
    fake is given), calendar/state/agents files in `tmp_path`, long loop intervals, and
    `settings` (upper-case names, e.g. SPAWN_URL="...") on top. The parent's Discord
    and spawn variables are dropped so the test decides alone."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISCORD_", "SPAWN_", "CALENDAR_", "ADMIN_ROLE"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    if fake is not None:
        env.update(fake.env())
    names = list(agents)
    if fake is not None:
        text = agents_toml(fake, names, **dict(agent_extra or {}))
    else:
        text = "\n".join(f'[[agents]]\nid = "{n}"\n' for n in names)
    (tmp_path / "agents.toml").write_text(text, encoding="utf-8")
    env.update(
        {
            "CALENDAR_URL": f"sqlite:///{tmp_path / 'calendar.db'}",
            "STATE_PATH": str(tmp_path / "state.db"),
            "AGENTS_FILE": str(tmp_path / "agents.toml"),
            "CHECK_INTERVAL_S": "3600",
            "SYNC_INTERVAL_S": "3600",
            "LOG_LEVEL": "INFO",
        }
    )
    env.update(settings)
    return env


def run_bot(cwd: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot *args` in `cwd`, run to its end: the exit code and the text a user's
    shell would show. For short-lived runs (a refusal, an exit code), not for a serving bot."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now (for CALENDAR_LISTEN)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def open_calendar_file(tmp_path: Path) -> EmbeddedCalendar:
    """The subprocess's calendar file, opened by the test (SQLite WAL: both may write)."""
    return await EmbeddedCalendar.open(tmp_path / "calendar.db", timezone=UTC_ZONE)


async def due_slot(tmp_path: Path, agent: str, title: str, prompt: str = "Do the thing.") -> Slot:
    """A slot due a second ago, written to the calendar file before the bot starts."""
    calendar = await open_calendar_file(tmp_path)
    try:
        return await calendar.create_slot(
            SlotCreate(
                agent_id=agent,
                scheduled_at=datetime.now(UTC) - timedelta(seconds=1),
                title=title,
                prompt=prompt,
            )
        )
    finally:
        await calendar.close()


async def slot_in_file(tmp_path: Path, slot_id: str) -> Slot:
    calendar = await open_calendar_file(tmp_path)
    try:
        return await calendar.get_slot(slot_id)
    finally:
        await calendar.close()


async def status_in_file(tmp_path: Path, slot_id: str) -> SlotStatus:
    return (await slot_in_file(tmp_path, slot_id)).status


@dataclass
class BotProcess:
    """`python -m bot` running in a subprocess; its stderr goes to `log_path`."""

    proc: asyncio.subprocess.Process
    log_path: Path
    _log_file: Any = field(repr=False, default=None)

    @classmethod
    async def start(
        cls, env: Mapping[str, str], cwd: Path, *args: str, name: str = "bot"
    ) -> BotProcess:
        index = 0
        while (cwd / f"{name}-{index}.log").exists():
            index += 1
        log_path = cwd / f"{name}-{index}.log"
        log_file = log_path.open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            cwd=str(cwd),
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(proc, log_path, log_file)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def wait_log(self, text: str, timeout: float = WAIT_S) -> None:  # noqa: ASYNC109
        """Until `text` appears in the output; fails early (with the log) if the bot exits."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if self.proc.returncode is not None:
                raise AssertionError(
                    f"the bot exited ({self.proc.returncode}) before logging {text!r}:\n"
                    + self.log_text()[-4000:]
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{text!r} not logged within {timeout}s:\n" + self.log_text()[-4000:]
                )
            await asyncio.sleep(0.05)

    def send_signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self, timeout: float = WAIT_S) -> int:  # noqa: ASYNC109
        """The exit status; TimeoutError (with the log) if it does not exit in time."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"the bot did not exit within {timeout}s:\n" + self.log_text()[-4000:]
            ) from None
        finally:
            if self.proc.returncode is not None and self._log_file is not None:
                self._log_file.close()
                self._log_file = None
        return code

    async def stop(self) -> None:
        """Make sure it is gone (teardown): SIGKILL if still running."""
        if self.proc.returncode is None:
            self.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
