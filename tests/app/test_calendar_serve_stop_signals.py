"""`python -m bot calendar serve` and its stop signals, as `python -m bot` meets them: a stop
repeated until the process has exited still exits 0 (never death by the signal, -15 or -2),
and a stop while it is still opening its calendar (a file another process keeps locked)
ends it within the budget with 0.

From a review: serve removed its loop's signal handlers once stopping, so a repeated
SIGTERM during its exit ended it by the signal; and one during the opening did at once.
Waits are for log lines and file handles, with generous ceilings.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from testkit.processes import BotProcess, bot_env, open_calendar_file
from tests.app.lifecycle_runs import (
    STOP_CEILING_S,
    integrity,
    signal_until_exit,
    stop_time,
    until_waiting_on_the_lock,
)


async def _serve(tmp_path: Path, processes: list[BotProcess]) -> BotProcess:
    """`calendar serve` on `tmp_path/calendar.db` (CALENDAR_URL), any free port."""
    env = bot_env(None, tmp_path)
    proc = await BotProcess.start(env, tmp_path, "calendar", "serve", "--port", "0", name="serve")
    processes.append(proc)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_with_stop_signals_repeated_until_the_exit_still_exits_0(
    tmp_path: Path, processes: list[BotProcess], sig: signal.Signals
) -> None:
    proc = await _serve(tmp_path, processes)
    await proc.wait_log("calendar API listening on")
    code = await signal_until_exit(proc, sig)
    log = proc.log_text()
    assert "calendar server stopped" in log  # the clean stop ran ...
    assert code == 0, log[-2000:]  # ... and the status says so
    assert log.count("received while already stopping") <= 1  # a flood is not logged
    assert integrity(tmp_path / "calendar.db") == "ok"


async def test_serve_stopped_while_its_calendar_file_is_locked_exits_0_within_the_budget(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    await (await open_calendar_file(tmp_path)).close()  # a calendar file of ours
    locker = sqlite3.connect(tmp_path / "calendar.db", isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")  # a long `calendar import` holds the write lock
        proc = await _serve(tmp_path, processes)
        await until_waiting_on_the_lock(proc, "serve opening the locked calendar")
        code, took = await stop_time(proc)
    finally:
        locker.close()
    log = proc.log_text()
    assert took < STOP_CEILING_S, f"stopped after {took:.1f}s:\n{log[-2000:]}"
    assert code == 0, log[-2000:]
    assert "Traceback" not in log and "listening on" not in log
