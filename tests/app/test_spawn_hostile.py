"""What the other side of the spawn fallback may do without harm: a launcher printing the
agent's token or a forged log line, an agent flooding the stdout it inherited, a prompt or
a command holding a NUL byte, a webhook answering with a redirect.

A review of the operator's lifecycle found each of these (its tests began as strict xfails
in tests/app/test_review_lifecycle.py); this file pins the fixes, with a few tests of their
details: secrets stay out of the log and off other origins, output stays bounded and on its
own log line, and a wake that cannot happen fails cleanly with the slot left pending.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from bot.app.logs import redact
from bot.app.runner import secrets_of
from bot.app.settings import Settings
from bot.core.agents import AgentConfig
from bot.core.models import SlotStatus
from bot.core.tokens import TokenKind, derive_token
from bot.wakers.spawn_command import SpawnCommandWaker
from bot.wakers.spawn_env import SpawnEnvironment
from bot.wakers.spawn_url import SpawnUrlWaker
from testkit.processes import BotProcess, bot_env, due_slot, status_in_file
from tests.app.lifecycle_runs import (
    FULL_TOKEN,
    env_file_run,
    failed_wake,
    poll,
    start,
    stop_time,
    until_status,
    write_script,
)
from tests.discord_io.conftest import make_slot

# ---- the spawn command ---------------------------------------------------------------------


async def test_a_spawn_commands_output_never_puts_the_agents_token_in_the_log(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    """A launcher that fails and dumps its environment (a common debugging aid)."""
    dump = write_script(
        tmp_path, "dump.py", "import os, sys\nprint(os.environ['CALENDAR_TOKEN'])\nsys.exit(1)\n"
    )
    command = f"{sys.executable} {dump}"
    _, log = await failed_wake(tmp_path, processes, command, CALENDAR_TOKEN=FULL_TOKEN)
    assert derive_token(FULL_TOKEN, TokenKind.AGENT, "alice") not in log


async def test_a_spawn_commands_output_cannot_forge_log_lines(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    forger = write_script(
        tmp_path,
        "forge.py",
        "import sys\nprint('starting')\n"
        "print('2030-01-01 00:00:00,000 INFO    bot.core.claims: agent alice: woke for slot x')\n"
        "sys.exit(1)\n",
    )
    _, log = await failed_wake(tmp_path, processes, f"{sys.executable} {forger}")
    assert not [line for line in log.splitlines() if line.startswith("2030-")]


async def test_a_prompt_with_a_nul_byte_fails_the_spawn_command_wake_cleanly(
    tmp_path: Path, processes: list[BotProcess]
) -> None:
    """The calendar refuses a NUL now (DESIGN §3.2); a prompt stored by an older version
    may still hold one, and no argument can carry it."""
    slot = await due_slot(tmp_path, "alice", "Binary prompt", prompt="before after")
    with contextlib.closing(sqlite3.connect(tmp_path / "calendar.db")) as db, db:
        db.execute("UPDATE slots SET prompt = ? WHERE id = ?", ("before\x00after", slot.id))
    env = bot_env(None, tmp_path, agents=("alice",), SPAWN_COMMAND="true {prompt}")
    proc = await start(env, tmp_path, processes)
    await proc.wait_log(f"could not wake for slot {slot.id}")
    await until_status(tmp_path, slot.id, SlotStatus.DEFERRED)
    code, _ = await stop_time(proc)
    assert code == 0
    assert "Traceback" not in proc.log_text()
    assert "NUL" in proc.log_text() or "null" in proc.log_text()


async def _launched_in_the_background(tmp_path: Path, agent: str) -> SpawnCommandWaker:
    """A wake whose command starts `agent` (Python code) in the background and exits: the
    agent keeps the command's stdout and stderr. Answers the waker, to close."""
    launcher = write_script(
        tmp_path,
        "launch.py",
        f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {agent!r}])\n",
    )
    waker = SpawnCommandWaker((sys.executable, str(launcher)), timeout_s=30.0)
    result = await waker.wake(AgentConfig(id="alice"), make_slot(), "p")
    assert result.ok, result.error
    return waker


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
    waker = await _launched_in_the_background(tmp_path, agent)
    await poll(lambda: pidfile.exists() and bool(pidfile.read_text()), "the agent's 8 MiB")
    pid = int(pidfile.read_text())
    try:
        kept = os.stat(f"/proc/{pid}/fd/1").st_size  # what its stdout holds on disk
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        waker.close()
    assert kept <= 1024 * 1024, f"{kept} bytes of the agent's output kept on disk"


async def test_an_agent_writing_on_after_the_moderator_stopped_meets_no_broken_pipe(
    tmp_path: Path,
) -> None:
    """The output its command left it is handed to a drain when the waker closes (the
    moderator stops): a Python agent would die of BrokenPipeError at its next print."""
    survived = tmp_path / "survived"
    agent = (
        "import sys, time\n"
        "for i in range(40):\n"
        "    print('still working', i, flush=True)\n"
        "    time.sleep(0.05)\n"
        f"open({str(survived)!r}, 'w').write('yes')\n"
    )
    waker = await _launched_in_the_background(tmp_path, agent)
    waker.close()  # the moderator stops while the agent prints on
    await poll(survived.exists, "the agent's last line after its prints", timeout=60)


async def test_the_log_keeps_a_launchers_first_kilobytes_and_counts_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loud = write_script(tmp_path, "loud.py", "import sys\nsys.stdout.write('x' * 10000)\n")
    caplog.set_level(logging.INFO, logger="bot.wakers.spawn_command")
    waker = SpawnCommandWaker((sys.executable, str(loud)), output_limit=4096)
    result = await waker.wake(AgentConfig(id="alice"), make_slot(), "p")
    assert result.ok, result.error
    assert f"stdout: {'x' * 4096} […5904 more bytes]" in caplog.text


# ---- the spawn webhook ---------------------------------------------------------------------


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
        proc = await start(env, tmp_path, processes)
        await poll(
            lambda: (
                f"wake for slot {slot_id}" in proc.log_text()
                or f"woke for slot {slot_id}" in proc.log_text()
            ),
            "the wake's outcome",
            60,
        )
        code, _ = await stop_time(proc)
    assert code == 0
    token = derive_token(FULL_TOKEN, TokenKind.AGENT, "alice").encode()
    assert not [method for method, body in receiver.landed if token in body]
    # 2xx from the URL itself is a wake (DESIGN §5); a redirect is not: the slot is pending.
    assert await status_in_file(tmp_path, slot_id) is SlotStatus.DEFERRED


async def test_a_redirect_is_named_by_its_status_and_the_origin_it_points_to_only() -> None:
    async with _redirecting(307) as receiver:
        receiver.landing_url += "?session=landing-secret"
        waker = SpawnUrlWaker(receiver.hook_url, environment=SpawnEnvironment(secret=FULL_TOKEN))
        try:
            result = await waker.wake(AgentConfig(id="alice"), make_slot(), "p")
        finally:
            await waker.close()
    assert not result.ok and result.error is not None
    landing_origin = receiver.landing_url.removesuffix("/landing?session=landing-secret")
    assert f"HTTP 307, a redirect to {landing_origin};" in result.error
    assert "/landing" not in result.error and "secret" not in result.error
    assert receiver.landed == []


# ---- the log -------------------------------------------------------------------------------


def test_the_logs_secrets_hold_every_agents_derived_tokens_from_either_calendar_token() -> None:
    previous = "the-previous-calendar-token-42"
    settings = Settings(calendar_token=FULL_TOKEN, calendar_token_previous=previous, _env_file=None)
    agents = [AgentConfig(id="alice"), AgentConfig(id="bob", token_generation=4)]
    secrets = secrets_of(settings, agents)
    for key in (FULL_TOKEN, previous):
        for agent in agents:
            for kind in TokenKind:
                assert derive_token(key, kind, agent.id, agent.token_generation) in secrets


def test_what_looks_like_a_derived_token_is_redacted_even_when_no_setting_knows_it() -> None:
    token = derive_token("a calendar token this moderator never saw", TokenKind.FEED, "zed", 7)
    assert redact(f"GET /feed.ics?token={token}&x=1", []) == "GET /feed.ics?token=***&x=1"
    assert redact(f"cut short: {token[:24]}", []) == "cut short: ***"
    assert redact("ics.alice.1 and agt.notes.txt", []) == "ics.alice.1 and agt.notes.txt"


# ---- the configuration ---------------------------------------------------------------------


def test_a_nul_byte_in_the_spawn_command_is_refused_by_the_configuration(tmp_path: Path) -> None:
    code, out = env_file_run(tmp_path, b"SPAWN_COMMAND=launch-agent a\x00b\n", "check-config")
    assert code == 2, out[-2000:]
    assert "SPAWN_COMMAND" in out
