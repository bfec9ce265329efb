"""A CalDAV server the moderator cannot reach at start-up (`python -m bot`, real processes).

No connection, no answer or a 5xx is a network fault, not a configuration one: the
opening is tried again, with a warning each time (at most `CALDAV_POLL_S` apart),
until the server answers or a stop comes, as an unreachable calendar server is met;
a stop then exits 0 within the budget. An account the server refuses (401) or a home
that is not there stays a configuration error: exit 2, naming `CALENDAR_URL`.

From a review: a server that timed out at start-up made the moderator exit 2 ("bad
configuration"). Against the real Radicale the tests start, and a TCP listener that
accepts and never answers. Waits are for log lines and exits, with generous ceilings
(the first try at a silent server takes the client's 10 s request timeout).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from testkit.bots import WAIT_S
from testkit.processes import BotProcess, bot_env, run_bot
from testkit.radicale import DavHome, RadicaleServer
from testkit.silent import silent_server
from tests.app.lifecycle_runs import STOP_CEILING_S, start, stop_time

#: What the moderator logs each time the server could not be reached at start-up.
RETRYING = "cannot reach the CalDAV calendar"
#: The first try at a silent server ends with the client's 10 s timeout; room for load.
SILENT_CEILING_S = 10.0 + WAIT_S


def _env(tmp_path: Path, home: DavHome, url: str | None = None) -> dict[str, str]:
    return bot_env(
        None,
        tmp_path,
        agents=("ada",),
        SPAWN_COMMAND="true",
        CALENDAR_URL="caldav+" + (url or home.url),
        CALENDAR_USERNAME=home.username,
        CALENDAR_PASSWORD=home.password,
        CALDAV_POLL_S="1",
    )


async def test_a_server_that_never_answers_is_tried_again_until_a_stop_which_exits_0(
    tmp_path: Path, processes: list[BotProcess], dav_home: DavHome
) -> None:
    async with silent_server() as silent:
        port = silent.port
        # The account in the URL (it wins over CALENDAR_USERNAME/PASSWORD) is never shown.
        user, password = dav_home.username, dav_home.password
        url = f"http://{user}:{password}@127.0.0.1:{port}/{user}/"
        proc = await start(_env(tmp_path, dav_home, url), tmp_path, processes)
        await proc.wait_log(RETRYING, timeout=SILENT_CEILING_S)  # exited 2 here before
        assert proc.proc.returncode is None
        code, took = await stop_time(proc)
    log = proc.log_text()
    assert code == 0, log[-3000:]
    assert took < STOP_CEILING_S, f"stopped after {took:.1f}s:\n{log[-3000:]}"
    assert f"127.0.0.1:{port} did not answer" in log
    assert "Traceback" not in log and dav_home.password not in log


async def test_a_server_down_at_start_up_is_used_once_it_is_up(
    tmp_path: Path, processes: list[BotProcess], own_radicale: RadicaleServer
) -> None:
    home = own_radicale.add_user()
    own_radicale.stop()  # connections refused
    proc = await start(_env(tmp_path, home), tmp_path, processes)
    await proc.wait_log(RETRYING)
    assert "unreachable" in proc.log_text()  # connections refused
    await asyncio.to_thread(own_radicale.start)
    await proc.wait_log("moderator started")
    code, took = await stop_time(proc)
    log = proc.log_text()
    assert code == 0 and took < STOP_CEILING_S, log[-3000:]
    assert "Traceback" not in log and home.password not in log


@pytest.mark.parametrize("fault", ["wrong password", "no such home"])
async def test_a_refused_account_or_a_missing_home_is_still_exit_2(
    tmp_path: Path, dav_home: DavHome, fault: str
) -> None:
    if fault == "wrong password":
        env = _env(tmp_path, dav_home)
        env["CALENDAR_PASSWORD"] = "not-" + dav_home.password
        said = "refused CALENDAR_USERNAME/CALENDAR_PASSWORD (401)"
    else:
        env = _env(tmp_path, dav_home, dav_home.url + "nothere/")
        said = f"no calendar home at /{dav_home.username}/nothere/"
    done = await asyncio.to_thread(run_bot, tmp_path, env)
    shown = done.stdout + done.stderr
    assert done.returncode == 2, shown[-3000:]
    assert "CALENDAR_URL:" in shown and said in shown
    assert RETRYING not in shown and "Traceback" not in shown
    assert dav_home.password not in shown
