"""Steps the lifecycle tests share, each on a real `python -m bot` process: start it, wait
for something, stop it and time the stop, run it once over a given `.env`, look at a file.

Waits are for events (a log line, a file, a connection), never fixed sleeps, with generous
ceilings for a loaded 2-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from bot.core.tasks import SHUTDOWN_BUDGET_S
from testkit.bots import WAIT_S
from testkit.processes import BotProcess, bot_env, run_bot

#: A stop is measured from the signal to the exit; the budget plus room for a loaded machine.
STOP_CEILING_S = SHUTDOWN_BUDGET_S + 1.5


async def start(env: dict[str, str], cwd: Path, processes: list[BotProcess]) -> BotProcess:
    """`python -m bot` in `cwd`, stopped at the test's teardown (the `processes` fixture)."""
    proc = await BotProcess.start(env, cwd)
    processes.append(proc)
    return proc


async def poll(check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:  # noqa: ASYNC109
    """Until `check()` holds; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not seen within {timeout}s")
        await asyncio.sleep(0.02)


async def stop_time(proc: BotProcess, sig: int = signal.SIGTERM) -> tuple[int, float]:
    """Send `sig` and wait for the exit: its status and how long it took."""
    began = time.monotonic()
    proc.send_signal(sig)
    code = await proc.wait(30)
    return code, time.monotonic() - began


def integrity(path: Path) -> str:
    """SQLite's `quick_check` of the file at `path` ("ok" when whole)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return str(db.execute("PRAGMA quick_check").fetchone()[0])


def env_file_run(tmp_path: Path, content: bytes, *args: str) -> tuple[int, str]:
    """`python -m bot *args` in a folder whose `.env` holds `content` (nothing else set):
    its exit status and its output."""
    (tmp_path / ".env").write_bytes(content)
    env = bot_env(None, tmp_path)
    for name in ("CALENDAR_URL", "STATE_PATH", "AGENTS_FILE"):
        del env[name]  # the .env's to give
    (tmp_path / "agents.toml").write_text('[[agents]]\nid = "alice"\n', encoding="utf-8")
    done = run_bot(tmp_path, env, *args)
    return done.returncode, done.stdout + done.stderr
