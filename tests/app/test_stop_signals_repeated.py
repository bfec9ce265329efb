"""A stop signal repeated until the process has exited (a supervisor that repeats its stop,
a person pressing Ctrl-C again) changes nothing: the clean stop runs once and the exit
status is still 0, never death by the signal (-15, -2).

From a review of the operator's lifecycle, which found the handlers removed before the
process ended: a second signal in that window killed it after a clean stop.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from bot.app.shutdown import StopSignal, held_stop_signals
from testkit.processes import BotProcess, bot_env
from tests.app.lifecycle_runs import signal_until_exit, start


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_stop_signals_repeated_until_the_exit_still_exit_0(
    tmp_path: Path, processes: list[BotProcess], sig: signal.Signals
) -> None:
    proc = await start(bot_env(None, tmp_path, SPAWN_COMMAND="true"), tmp_path, processes)
    await proc.wait_log("moderator started")
    code = await signal_until_exit(proc, sig)
    log = proc.log_text()
    assert "stopped" in log  # the clean stop ran ...
    assert code == 0  # ... and the status says so
    assert log.count("received while already stopping") <= 1  # a flood is not logged


async def test_a_run_in_a_process_that_goes_on_gives_the_handlers_back() -> None:
    """`python -m bot` ignores the signals once its run is over (its process is ending);
    a run in a process that goes on, a test's, leaves it as it found it."""
    before = [signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)]
    with held_stop_signals(), held_stop_signals():  # the CLI's, then the runner's
        stop = StopSignal.install()
        os.kill(os.getpid(), signal.SIGINT)  # held: a stop, not a KeyboardInterrupt
        await asyncio.wait_for(stop.wait(), 10)
        stop.uninstall()
        os.kill(os.getpid(), signal.SIGINT)  # after the run: the stop is under way
        assert signal.getsignal(signal.SIGINT) is not before[1]  # still held inside
    assert stop.name == "SIGINT"
    assert [signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)] == before
