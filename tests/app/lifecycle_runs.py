"""Driving a real `python -m bot` through a wake: start it, wait for what it logs or stores,
stop it with a signal, run it once over a given `.env`, look at a file. Shared by the
lifecycle tests and the spawn fallback's.

Waits are for events (a log line, a file, a status), never fixed sleeps, with generous
ceilings for a loaded 2-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from bot.core.models import SlotStatus
from bot.core.tasks import SHUTDOWN_BUDGET_S
from testkit.bots import WAIT_S
from testkit.processes import BotProcess, bot_env, due_slot, run_bot, status_in_file

#: A stop is measured from the signal to the exit; the budget plus room for a loaded machine.
STOP_CEILING_S = SHUTDOWN_BUDGET_S + 1.5
#: A full `CALENDAR_TOKEN` for runs that must show that neither it nor its derived tokens leak.
FULL_TOKEN = "review-full-calendar-token-0123456789abcdef"


async def signal_until_exit(proc: BotProcess, sig: int, ceiling_s: float = 30.0) -> int:
    """Send `sig` again and again (a supervisor repeating its stop, Ctrl-C held down) until
    the process has exited: its exit status."""
    began = time.monotonic()
    while proc.proc.returncode is None and time.monotonic() - began < ceiling_s:
        # os.kill, not Popen.send_signal: that one polls first, reaping the exited process
        # before asyncio's child watcher can (which then reports 255, not its status).
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.proc.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.proc.wait(), 0.002)
    return await proc.wait(ceiling_s)


def write_script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


async def start(env: dict[str, str], cwd: Path, processes: list[BotProcess]) -> BotProcess:
    """A started bot, added to `processes` (the fixture that kills what a test leaves)."""
    proc = await BotProcess.start(env, cwd)
    processes.append(proc)
    return proc


async def poll(check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:  # noqa: ASYNC109
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


async def until_status(tmp_path: Path, slot_id: str, status: SlotStatus) -> None:
    """Until the slot has `status` in the calendar file (or fail, naming the last one)."""
    deadline = time.monotonic() + WAIT_S
    while (now := await status_in_file(tmp_path, slot_id)) is not status:
        assert time.monotonic() < deadline, f"slot {slot_id} is {now}, not {status}"
        await asyncio.sleep(0.05)


async def failed_wake(
    tmp_path: Path, processes: list[BotProcess], command: str, **settings: str
) -> tuple[str, str]:
    """A headless run whose spawn command fails on a due slot: the slot's id and the log of
    the run, stopped cleanly once the slot was given back."""
    slot_id = (await due_slot(tmp_path, "alice", "Cannot start")).id
    env = bot_env(None, tmp_path, agents=("alice",))
    env.update(SPAWN_COMMAND=command, **settings)
    proc = await start(env, tmp_path, processes)
    await proc.wait_log(f"could not wake for slot {slot_id}")
    await until_status(tmp_path, slot_id, SlotStatus.DEFERRED)
    code, _ = await stop_time(proc)
    assert code == 0
    return slot_id, proc.log_text()


def open_files(pid: int) -> list[str]:
    """What the process `pid` has open (paths), from /proc."""
    found = []
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                found.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return found


async def until_waiting_on_the_lock(proc: BotProcess, what: str) -> None:
    """Until `proc` has the calendar file's connection open (its WAL index mapped): with
    another process holding the write lock, it waits on that lock now."""
    await poll(lambda: any(p.endswith("calendar.db-shm") for p in open_files(proc.proc.pid)), what)


def integrity(path: Path) -> str:
    """SQLite's `quick_check` of the file at `path` ("ok" when whole)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return str(db.execute("PRAGMA quick_check").fetchone()[0])


def env_file_run(tmp_path: Path, content: bytes, *args: str) -> tuple[int, str]:
    """`python -m bot *args` in a folder whose `.env` holds `content` (nothing else set)."""
    (tmp_path / ".env").write_bytes(content)
    env = bot_env(None, tmp_path)
    for name in ("CALENDAR_URL", "STATE_PATH", "AGENTS_FILE"):
        del env[name]  # the .env's to give
    (tmp_path / "agents.toml").write_text('[[agents]]\nid = "alice"\n', encoding="utf-8")
    done = run_bot(tmp_path, env, *args)
    return done.returncode, done.stdout + done.stderr
