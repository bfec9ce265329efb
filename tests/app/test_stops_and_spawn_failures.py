"""The moderator's lifecycle as an operator meets it, with real `python -m bot` processes:
a stop while the calendar is unreachable or a spawn command hangs, a spawn command that
fails, and the environment over `.env`.

From a review of the lifecycle: these pinned right behaviour no other test covered (what
it found wrong is fixed and tested in test_stop_during_start_up, test_stop_signals_repeated,
test_env_file_problems, test_gateway_refusals and test_spawn_hostile). Waits are for
events (a log line, a file, a connection), never fixed sleeps, with generous ceilings for
a loaded 2-core machine.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from bot.core.models import SlotStatus
from testkit.processes import (
    BotProcess,
    bot_env,
    due_slot,
    free_port,
    run_bot,
    status_in_file,
)
from tests.app.lifecycle_runs import (
    FULL_TOKEN,
    STOP_CEILING_S,
    failed_wake,
    integrity,
    poll,
    start,
    stop_time,
    write_script,
)

# ---- stop signals ------------------------------------------------------------------------


async def test_sigterm_while_the_calendar_is_unreachable_exits_0_and_leaves_the_state_whole(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    env = bot_env(
        None, tmp_path, SPAWN_COMMAND="true", CALENDAR_URL=f"http://127.0.0.1:{free_port()}"
    )
    proc = await start(env, tmp_path, processes)
    await proc.wait_log("calendar GET")  # retrying the unreachable calendar, start-up not done
    code, took = await stop_time(proc)
    assert code == 0, proc.log_text()[-2000:]
    assert took < STOP_CEILING_S
    assert not (tmp_path / "state.db-wal").exists()
    assert not (tmp_path / "state.db-journal").exists()
    assert integrity(tmp_path / "state.db") == "ok"
    assert "Traceback" not in proc.log_text()


async def test_sigterm_during_a_hung_spawn_command_kills_it_and_a_restart_wakes_once(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    pidfile, woken = tmp_path / "launcher.pid", tmp_path / "woken.txt"
    hang = write_script(
        tmp_path,
        "hang.py",
        f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)\n",
    )
    record = write_script(
        tmp_path,
        "record.py",
        f"import sys\nopen({str(woken)!r}, 'a').write(sys.argv[1] + '\\n')\n",
    )
    slot_id = (await due_slot(tmp_path, "alice", "Hung launcher")).id
    proc = await start(
        bot_env(None, tmp_path, agents=("alice",), SPAWN_COMMAND=f"{sys.executable} {hang}"),
        tmp_path,
        processes,
    )
    await poll(lambda: pidfile.exists() and bool(pidfile.read_text()), "the launcher running")
    launcher = int(pidfile.read_text())
    code, took = await stop_time(proc)
    assert code == 0 and took < STOP_CEILING_S, proc.log_text()[-2000:]
    await poll(lambda: not Path(f"/proc/{launcher}").exists(), "the launcher killed", 10)
    assert await status_in_file(tmp_path, slot_id) is SlotStatus.ONGOING  # still our claim

    recording = f"{sys.executable} {record} {{slot_id}}"
    again = await start(
        bot_env(None, tmp_path, agents=("alice",), SPAWN_COMMAND=recording), tmp_path, processes
    )
    await again.wait_log(f"woke for slot {slot_id}")
    code, _ = await stop_time(again)
    assert code == 0
    assert woken.read_text().splitlines() == [slot_id]


# ---- headless: the spawn command ---------------------------------------------------------


@pytest.mark.parametrize("failure", ["missing-program", "exit-3"])
async def test_a_failed_spawn_command_leaves_the_slot_pending_and_says_so(
    tmp_path: Path, processes: list[BotProcess], failure: str
) -> None:
    command = (
        str(tmp_path / "no-such-launcher") if failure == "missing-program" else "sh -c 'exit 3'"
    )
    slot_id, log = await failed_wake(tmp_path, processes, command)
    assert ("No such file" in log) if failure == "missing-program" else ("exited 3" in log)
    assert f"ERROR   bot.core.claims: agent alice: could not wake for slot {slot_id}" in log
    assert "Traceback" not in log


# ---- .env ------------------------------------------------------------------------------


def test_the_environment_wins_over_env_and_a_bad_env_value_is_named(tmp_path: Path) -> None:
    """Both sources together: the environment's value is used; a bad one from .env alone
    is refused naming it (and a token beside it is never echoed)."""
    (tmp_path / ".env").write_text(
        f"SPAWN_COMMAND=true\nCHECK_INTERVAL_S=0\nCALENDAR_TOKEN={FULL_TOKEN}\n", encoding="utf-8"
    )
    env = bot_env(None, tmp_path, CHECK_INTERVAL_S="45")
    ok = run_bot(tmp_path, env, "check-config")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"CHECK_INTERVAL_S\s+45\.0", ok.stdout), ok.stdout
    del env["CHECK_INTERVAL_S"]
    bad = run_bot(tmp_path, env, "check-config")
    assert bad.returncode == 2
    assert "CHECK_INTERVAL_S" in bad.stdout + bad.stderr
    assert FULL_TOKEN not in bad.stdout + bad.stderr
