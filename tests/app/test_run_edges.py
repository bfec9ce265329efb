"""The app layer as people run it (`python -m bot`, `check-config`, `calendar …`), with the
real processes: check-config judging a calendar file as the bot does, a refused state file
creating nothing, passwords in URLs never shown, one moderator per state file. From a review:
each failed before its fix.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from testkit.processes import BotProcess, bot_env, free_port, run_bot

PASSWORD = "hunter2-calendar-password"


def _foreign_file(path: Path) -> None:
    """A user's own file (not SQLite) that a setting points at by mistake."""
    path.write_text("my notes, not a database\n", encoding="utf-8")


def test_check_config_refuses_a_calendar_file_that_the_bot_refuses(tmp_path: Path) -> None:
    _foreign_file(tmp_path / "notes.txt")
    env = bot_env(
        None, tmp_path, SPAWN_COMMAND="true", CALENDAR_URL=f"sqlite:///{tmp_path / 'notes.txt'}"
    )
    ran = run_bot(tmp_path, env)
    assert ran.returncode == 2, ran.stderr
    checked = run_bot(tmp_path, env, "check-config")
    assert checked.returncode != 0, checked.stdout
    assert "OK" not in checked.stdout.splitlines()[-1]


def test_a_refused_state_file_creates_no_calendar_file(tmp_path: Path) -> None:
    _foreign_file(tmp_path / "state.txt")
    env = bot_env(None, tmp_path, SPAWN_COMMAND="true", STATE_PATH=str(tmp_path / "state.txt"))
    ran = run_bot(tmp_path, env)
    assert ran.returncode == 2, ran.stderr
    assert "STATE_PATH" in ran.stderr
    assert not (tmp_path / "calendar.db").exists()


def test_check_config_masks_the_password_of_an_http_calendar_url(tmp_path: Path) -> None:
    url = f"http://ops:{PASSWORD}@127.0.0.1:{free_port()}"
    env = bot_env(None, tmp_path, SPAWN_COMMAND="true", CALENDAR_URL=url)
    checked = run_bot(tmp_path, env, "check-config")
    assert "CALENDAR_URL" in checked.stdout
    assert PASSWORD not in checked.stdout + checked.stderr


def test_a_calendar_command_error_hides_the_url_password(tmp_path: Path) -> None:
    url = f"http://ops:{PASSWORD}@127.0.0.1:{free_port()}"
    env = bot_env(None, tmp_path, CALENDAR_URL=url)
    ran = run_bot(tmp_path, env, "calendar", "list", "--agent", "alice")
    assert ran.returncode == 1
    assert "127.0.0.1" in ran.stderr
    assert PASSWORD not in ran.stdout + ran.stderr


async def _went_ahead_or_exited(proc: BotProcess, text: str, timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while text not in proc.log_text() and proc.proc.returncode is None:
        assert time.monotonic() < deadline, proc.log_text()[-2000:]
        await asyncio.sleep(0.05)


async def test_a_second_bot_on_the_same_state_file_is_refused(tmp_path: Path) -> None:
    env = bot_env(None, tmp_path, SPAWN_COMMAND="true")
    first = await BotProcess.start(env, tmp_path, name="first")
    second: BotProcess | None = None
    try:
        await first.wait_log("running headless", timeout=8)
        second = await BotProcess.start(env, tmp_path, name="second")
        await _went_ahead_or_exited(second, "running headless", timeout=8)
        assert second.proc.returncode not in (None, 0), second.log_text()[-2000:]
        assert "STATE_PATH" in second.log_text()
    finally:
        for proc in (first, second):
            if proc is not None:
                await proc.stop()
