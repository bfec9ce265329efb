"""The moderator's lifecycle as an operator meets it, with real `python -m bot` processes:
stop signals while the calendar is unreachable or a launcher hangs, the headless spawn
fallback failing in the ways real launchers and webhooks fail, and `.env` values.
(The review's tests of a stop during start-up, repeated stop signals and `.env` files
that are not what they seem were fixed and live in test_stop_during_start_up.py,
test_stop_signals_repeated.py and test_env_file_problems.py.)

From a review. A test marked xfail(strict) shows behaviour that is wrong today (its
reason says what should happen); the plain ones pin right behaviour no other test covers.
Waits are for events (a log line, a file, a connection), never fixed sleeps, with
generous ceilings for a loaded 2-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from bot.core.agents import AgentConfig
from bot.core.calendar import CalendarError
from bot.core.models import SlotCreate, SlotStatus
from bot.core.tokens import TokenKind, derive_token
from bot.wakers.spawn_command import SpawnCommandWaker
from testkit.bots import WAIT_S
from testkit.processes import (
    BotProcess,
    bot_env,
    due_slot,
    free_port,
    open_calendar_file,
    run_bot,
    status_in_file,
)
from tests.app.lifecycle_steps import STOP_CEILING_S
from tests.app.lifecycle_steps import env_file_run as _env_file_run
from tests.app.lifecycle_steps import integrity as _integrity
from tests.app.lifecycle_steps import poll as _poll
from tests.app.lifecycle_steps import start as _start
from tests.app.lifecycle_steps import stop_time as _stop_time
from tests.discord_io.conftest import make_slot

FULL_TOKEN = "review-full-calendar-token-0123456789abcdef"


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


async def _until_status(tmp_path: Path, slot_id: str, status: SlotStatus) -> None:
    """Until the slot has `status` in the calendar file (or fail, naming the last one)."""
    deadline = time.monotonic() + WAIT_S
    while (now := await status_in_file(tmp_path, slot_id)) is not status:
        assert time.monotonic() < deadline, f"slot {slot_id} is {now}, not {status}"
        await asyncio.sleep(0.05)


# ---- stop signals ------------------------------------------------------------------------


async def test_sigterm_while_the_calendar_is_unreachable_exits_0_and_leaves_the_state_whole(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    env = bot_env(
        None, tmp_path, SPAWN_COMMAND="true", CALENDAR_URL=f"http://127.0.0.1:{free_port()}"
    )
    proc = await _start(env, tmp_path, processes)
    await proc.wait_log("calendar GET")  # retrying the unreachable calendar, start-up not done
    code, took = await _stop_time(proc)
    assert code == 0, proc.log_text()[-2000:]
    assert took < STOP_CEILING_S
    assert not (tmp_path / "state.db-wal").exists()
    assert not (tmp_path / "state.db-journal").exists()
    assert _integrity(tmp_path / "state.db") == "ok"
    assert "Traceback" not in proc.log_text()


async def test_sigterm_during_a_hung_spawn_command_kills_it_and_a_restart_wakes_once(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    pidfile, woken = tmp_path / "launcher.pid", tmp_path / "woken.txt"
    hang = _script(
        tmp_path,
        "hang.py",
        f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)\n",
    )
    record = _script(
        tmp_path,
        "record.py",
        f"import sys\nopen({str(woken)!r}, 'a').write(sys.argv[1] + '\\n')\n",
    )
    slot_id = (await due_slot(tmp_path, "alice", "Hung launcher")).id
    proc = await _start(
        bot_env(None, tmp_path, agents=("alice",), SPAWN_COMMAND=f"{sys.executable} {hang}"),
        tmp_path,
        processes,
    )
    await _poll(lambda: pidfile.exists() and bool(pidfile.read_text()), "the launcher running")
    launcher = int(pidfile.read_text())
    code, took = await _stop_time(proc)
    assert code == 0 and took < STOP_CEILING_S, proc.log_text()[-2000:]
    await _poll(lambda: not Path(f"/proc/{launcher}").exists(), "the launcher killed", 10)
    assert await status_in_file(tmp_path, slot_id) is SlotStatus.ONGOING  # still our claim

    recording = f"{sys.executable} {record} {{slot_id}}"
    again = await _start(
        bot_env(None, tmp_path, agents=("alice",), SPAWN_COMMAND=recording), tmp_path, processes
    )
    await again.wait_log(f"woke for slot {slot_id}")
    code, _ = await _stop_time(again)
    assert code == 0
    assert woken.read_text().splitlines() == [slot_id]


# ---- headless: the spawn command ---------------------------------------------------------


async def _failed_wake(
    tmp_path: Path, processes: list[BotProcess], command: str, **settings: str
) -> tuple[str, str]:
    """A headless run whose spawn command fails on a due slot: the slot's id and the log of
    the run, stopped cleanly once the slot was given back."""
    slot_id = (await due_slot(tmp_path, "alice", "Cannot start")).id
    env = bot_env(None, tmp_path, agents=("alice",))
    env.update(SPAWN_COMMAND=command, **settings)
    proc = await _start(env, tmp_path, processes)
    await proc.wait_log(f"could not wake for slot {slot_id}")
    await _until_status(tmp_path, slot_id, SlotStatus.DEFERRED)
    code, _ = await _stop_time(proc)
    assert code == 0
    return slot_id, proc.log_text()


@pytest.mark.parametrize("failure", ["missing-program", "exit-3"])
async def test_a_failed_spawn_command_leaves_the_slot_pending_and_says_so(
    tmp_path: Path, processes: list[BotProcess], failure: str
) -> None:
    command = (
        str(tmp_path / "no-such-launcher") if failure == "missing-program" else "sh -c 'exit 3'"
    )
    slot_id, log = await _failed_wake(tmp_path, processes, command)
    assert ("No such file" in log) if failure == "missing-program" else ("exited 3" in log)
    assert f"ERROR   bot.core.claims: agent alice: could not wake for slot {slot_id}" in log
    assert "Traceback" not in log


@pytest.mark.xfail(
    strict=True,
    reason="a spawn command's output is logged as it is: the agent's own calendar token "
    "(CALENDAR_TOKEN in its environment) reaches the log; derived tokens are not redacted",
)
async def test_a_spawn_commands_output_never_puts_the_agents_token_in_the_log(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    """A launcher that fails and dumps its environment (a common debugging aid)."""
    dump = _script(
        tmp_path, "dump.py", "import os, sys\nprint(os.environ['CALENDAR_TOKEN'])\nsys.exit(1)\n"
    )
    command = f"{sys.executable} {dump}"
    _, log = await _failed_wake(tmp_path, processes, command, CALENDAR_TOKEN=FULL_TOKEN)
    assert derive_token(FULL_TOKEN, TokenKind.AGENT, "alice") not in log


@pytest.mark.xfail(
    strict=True,
    reason="a spawn command's multi-line output is logged verbatim in text format: a line "
    "it prints shows as a log record of its own (forged timestamps and levels)",
)
async def test_a_spawn_commands_output_cannot_forge_log_lines(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    forger = _script(
        tmp_path,
        "forge.py",
        "import sys\nprint('starting')\n"
        "print('2030-01-01 00:00:00,000 INFO    bot.core.claims: agent alice: woke for slot x')\n"
        "sys.exit(1)\n",
    )
    _, log = await _failed_wake(tmp_path, processes, f"{sys.executable} {forger}")
    assert not [line for line in log.splitlines() if line.startswith("2030-")]


@pytest.mark.xfail(
    strict=True,
    reason="a NUL in a prompt makes create_subprocess_exec raise ValueError, which the spawn "
    "command waker does not catch: every retry logs a traceback",
)
async def test_a_prompt_with_a_nul_byte_fails_the_spawn_command_wake_cleanly(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    calendar = await open_calendar_file(tmp_path)
    try:
        slot = await calendar.create_slot(
            SlotCreate(
                agent_id="alice",
                scheduled_at=datetime.now(UTC) - timedelta(seconds=1),
                title="Binary prompt",
                prompt="before\x00after",
            )
        )
    except (ValueError, CalendarError):
        return  # refused at the source (DESIGN §3.2): nothing can reach the waker
    finally:
        await calendar.close()
    env = bot_env(None, tmp_path, agents=("alice",), SPAWN_COMMAND="true {prompt}")
    proc = await _start(env, tmp_path, processes)
    await proc.wait_log(f"could not wake for slot {slot.id}")
    await _until_status(tmp_path, slot.id, SlotStatus.DEFERRED)
    code, _ = await _stop_time(proc)
    assert code == 0
    assert "Traceback" not in proc.log_text()


@pytest.mark.xfail(
    strict=True,
    reason="the launcher's stdout is an unlinked temporary file that the agent it starts "
    "keeps writing to: its logs grow without bound, invisible to du, until the agent ends",
)
async def test_an_agent_started_in_the_background_cannot_fill_the_disk_through_stdout(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "agent.pid"
    agent = (
        "import os, sys, time\n"
        "for _ in range(64):\n"
        "    sys.stdout.write('agent log line ' * 8738 + '\\n')\n"  # 64 x 128 KiB = 8 MiB
        "sys.stdout.flush()\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(120)\n"
    )
    launcher = _script(
        tmp_path,
        "launch.py",
        f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {agent!r}])\n",
    )
    waker = SpawnCommandWaker((sys.executable, str(launcher)), timeout_s=30.0)
    result = await waker.wake(AgentConfig(id="alice"), make_slot(), "p")
    assert result.ok, result.error
    await _poll(lambda: pidfile.exists() and bool(pidfile.read_text()), "the agent's 8 MiB")
    pid = int(pidfile.read_text())
    try:
        kept = os.stat(f"/proc/{pid}/fd/1").st_size  # what its stdout holds on disk
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert kept <= 1024 * 1024, f"{kept} bytes of the agent's output kept on disk"


# ---- headless: the spawn webhook ---------------------------------------------------------


@dataclass
class _Redirecting:
    """A webhook that redirects (a proxy's login page, http -> https, a moved endpoint) to a
    landing page on another origin, which records what reaches it."""

    status: int
    landed: list[tuple[str, bytes]] = field(default_factory=list)
    hook_url: str = ""
    landing_url: str = ""

    async def hook(self, request: web.Request) -> web.Response:
        await request.read()
        redirect = web.HTTPFound if self.status == 302 else web.HTTPTemporaryRedirect
        raise redirect(self.landing_url)

    async def land(self, request: web.Request) -> web.Response:
        self.landed.append((request.method, await request.read()))
        return web.Response(text="<html>please sign in</html>", content_type="text/html")


@contextlib.asynccontextmanager
async def _redirecting(status: int) -> AsyncIterator[_Redirecting]:
    receiver = _Redirecting(status)
    landing_app, hook_app = web.Application(), web.Application()
    landing_app.router.add_route("*", "/landing", receiver.land)
    hook_app.router.add_post("/wake/hook-secret", receiver.hook)
    runners = [web.AppRunner(landing_app), web.AppRunner(hook_app)]
    try:
        for runner in runners:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
        receiver.landing_url = f"http://127.0.0.1:{runners[0].addresses[0][1]}/landing"
        receiver.hook_url = f"http://127.0.0.1:{runners[1].addresses[0][1]}/wake/hook-secret"
        yield receiver
    finally:
        for runner in runners:
            await runner.cleanup()


@pytest.mark.xfail(
    strict=True,
    reason="the spawn webhook follows redirects: a 302 turns the POST into a GET whose 200 "
    "counts as woken, a 307 re-sends the body with the agent's token to another origin",
)
@pytest.mark.parametrize("status", [302, 307])
async def test_a_redirecting_spawn_url_is_not_a_wake_and_the_body_stays_home(
    tmp_path: Path, processes: list[BotProcess], status: int
) -> None:
    async with _redirecting(status) as receiver:
        slot_id = (await due_slot(tmp_path, "alice", "Behind a proxy")).id
        env = bot_env(
            None,
            tmp_path,
            agents=("alice",),
            SPAWN_URL=receiver.hook_url,
            CALENDAR_TOKEN=FULL_TOKEN,
        )
        proc = await _start(env, tmp_path, processes)
        await _poll(
            lambda: (
                f"wake for slot {slot_id}" in proc.log_text()
                or f"woke for slot {slot_id}" in proc.log_text()
            ),
            "the wake's outcome",
            60,
        )
        code, _ = await _stop_time(proc)
    assert code == 0
    token = derive_token(FULL_TOKEN, TokenKind.AGENT, "alice").encode()
    assert not [method for method, body in receiver.landed if token in body]
    # 2xx from the URL itself is a wake (DESIGN §5); a redirect is not: the slot is pending.
    assert await status_in_file(tmp_path, slot_id) is SlotStatus.DEFERRED


# ---- .env ------------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="SPAWN_COMMAND with a NUL byte passes check-config; every wake then fails with "
    "a ValueError traceback",
)
def test_a_nul_byte_in_the_spawn_command_is_refused_by_the_configuration(tmp_path: Path) -> None:
    code, out = _env_file_run(tmp_path, b"SPAWN_COMMAND=launch-agent a\x00b\n", "check-config")
    assert code == 2, out[-2000:]
    assert "SPAWN_COMMAND" in out


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
