"""A stop signal while the moderator is still starting: it stops within the shutdown budget
and exits 0, however the start-up is held up, and leaves nothing half opened or written.

The process tests come from a review of the operator's lifecycle, which found a SIGTERM
held for the calendar file's whole 10 s busy wait (or a silent CalDAV server's timeout),
then an exit 1 or 2; the others pin the parts that make it so: an opening waiting on a
locked file ends at once when cancelled, and a signal that comes before the event loop
runs (during the ~0.5 s of imports) stops the run as soon as it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from bot.app.shutdown import StopSignal, held_stop_signals
from bot.calendar.store.schema import open_database
from testkit.processes import BotProcess, bot_env, due_slot
from testkit.silent import silent_server
from tests.app.lifecycle_runs import (
    STOP_CEILING_S,
    integrity,
    poll,
    start,
    stop_time,
    until_waiting_on_the_lock,
)


@pytest.mark.parametrize("blocker", ["locked-calendar-file", "silent-caldav-server"])
async def test_sigterm_while_the_calendar_is_being_opened_stops_within_the_budget(
    tmp_path: Path, processes: list[BotProcess], blocker: str
) -> None:
    env = bot_env(None, tmp_path, SPAWN_COMMAND="true")
    async with contextlib.AsyncExitStack() as stack:
        if blocker == "locked-calendar-file":
            await due_slot(tmp_path, "alice", "Behind a lock")
            # Another process (a long `calendar import`, a sqlite3 shell) holds the write lock.
            locker = sqlite3.connect(tmp_path / "calendar.db", isolation_level=None)
            stack.callback(locker.close)
            locker.execute("BEGIN IMMEDIATE")
        else:
            silent = await stack.enter_async_context(silent_server())
            env["CALENDAR_URL"] = f"caldav+http://127.0.0.1:{silent.port}/dav/"
        proc = await start(env, tmp_path, processes)
        if blocker == "locked-calendar-file":
            await until_waiting_on_the_lock(proc, "the bot opening the locked calendar")
        else:
            await silent.until_accepted(1)
        code, took = await stop_time(proc)
    assert took < STOP_CEILING_S, f"stopped after {took:.1f}s:\n{proc.log_text()[-2000:]}"
    assert code == 0, proc.log_text()[-2000:]
    assert "Traceback" not in proc.log_text()
    assert not (tmp_path / "state.db").exists()  # stopped before the state was opened
    if blocker == "locked-calendar-file":
        assert integrity(tmp_path / "calendar.db") == "ok"


async def test_an_opening_that_waits_for_a_locked_file_ends_at_once_when_cancelled(
    tmp_path: Path,
) -> None:
    """SQLite's own busy wait sleeps in the connection's thread, where cancelling does not
    reach: the wait for another process' lock is the opener's, in asyncio."""
    path = tmp_path / "calendar.db"
    await (await open_database(str(path))).close()
    threads = set(threading.enumerate())
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await open_database(str(path), busy_timeout_s=30.0)
        took = time.monotonic() - began
    finally:
        locker.close()
    assert took < 10.0  # not the 30 s of the busy timeout
    # The half-opened connection is closed: its worker thread is gone.
    await poll(lambda: set(threading.enumerate()) <= threads, "the connection's thread ending")
    assert integrity(path) == "ok"


async def test_an_opening_cancelled_anywhere_leaves_no_empty_calendar_file(
    tmp_path: Path,
) -> None:
    """A stop while a new calendar file is being made: either no file is left or a whole
    one, never the empty file every later start would refuse (DESIGN §4)."""
    for steps in range(0, 60, 3):
        path = tmp_path / f"calendar-{steps}.db"
        opening = asyncio.create_task(open_database(str(path)))
        for _ in range(steps):
            await asyncio.sleep(0)  # lets the opening go on by a step or so
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await (await opening).close()
        assert not path.exists() or integrity(path) == "ok", f"after {steps} steps"
        if path.exists():
            await (await open_database(str(path))).close()  # a later start opens it


async def test_a_stop_signal_before_the_loop_runs_stops_the_run_as_soon_as_it_starts() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with held_stop_signals():
        os.kill(os.getpid(), signal.SIGTERM)  # held: recorded, the process goes on
        stop = StopSignal.install()
        try:
            assert stop.event.is_set() and stop.name == "SIGTERM"
        finally:
            stop.uninstall()
    assert signal.getsignal(signal.SIGTERM) == before  # the test process's own again
