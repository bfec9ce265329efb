"""`python -m bot calendar …` as a person runs it: real processes, real files, real sockets."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from bot.calendar.store import EmbeddedCalendar
from tests.calendar.conftest import TOKEN, TZ

REPO = Path(__file__).resolve().parents[2]
PATIENCE_S = 90.0  # only reached when something hangs; a loaded machine is slow to start Python


@dataclass
class Run:
    code: int
    out: str
    err: str


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Only what the test sets: no .env (cwd is tmp_path), no inherited calendar settings."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "CALENDAR_URL": f"sqlite:///{tmp_path / 'calendar.db'}",
        "TIMEZONE": "Asia/Shanghai",
        "LANG": "C.UTF-8",
    }
    env.update(extra)
    return env


async def bot(tmp_path: Path, *args: str, **env: str) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "calendar",
        *args,
        cwd=tmp_path,
        env=cli_env(tmp_path, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), PATIENCE_S)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def test_add_then_list_shows_an_aligned_table(tmp_path: Path) -> None:
    first = await bot(
        tmp_path, "add", "--agent", "alice", "--in", "10m", "--title", "Write it", "--prompt", "p"
    )
    assert first.code == 0, first.err
    slot_id = first.out.strip()
    assert len(slot_id) >= 8 and "\n" not in slot_id
    assert "alice" in first.err and "Write it" in first.err
    second = await bot(
        tmp_path,
        "add", "--agent", "bob", "--in", "1h30m", "--title", "Review", "--prompt", "p",
        "--priority", "90", "--duration", "45", "--type", "review",
    )  # fmt: skip
    assert second.code == 0, second.err

    listed = await bot(tmp_path, "list")
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert "Asia/Shanghai" in lines[0] and "all agents" in lines[0]
    header = lines[1]
    assert header.split() == ["TIME", "AGENT", "PRI", "STATUS", "ID", "TITLE"]
    rows = lines[2:]
    assert len(rows) == 2 or "-" in rows[-1]  # near midnight bob's slot may be tomorrow
    alice = next(row for row in rows if " alice " in row)
    assert slot_id in alice and "NOT_STARTED" in alice and alice.endswith("Write it")
    # Columns line up: every row has its id where the header has ID.
    assert alice.index(slot_id) == header.index("ID")

    only_bob = await bot(tmp_path, "list", "--agent", "bob")
    assert only_bob.code == 0
    assert "alice" not in only_bob.out


async def test_a_naive_at_is_read_in_timezone(tmp_path: Path) -> None:
    added = await bot(
        tmp_path, "add", "--agent", "alice", "--at", "2099-01-05T23:30", "--title", "Late",
        "--prompt", "p",
    )  # fmt: skip
    assert added.code == 0, added.err
    that_day = await bot(tmp_path, "list", "--date", "2099-01-05")
    assert "23:30" in that_day.out and added.out.strip() in that_day.out
    next_day = await bot(tmp_path, "list", "--date", "2099-01-06")
    assert "no slots" in next_day.out
    cal = await EmbeddedCalendar.open(tmp_path / "calendar.db", timezone=TZ)
    try:
        [slot] = await cal.list_slots()
    finally:
        await cal.close()
    assert slot.scheduled_at == datetime(2099, 1, 5, 23, 30, tzinfo=TZ)


async def test_a_past_add_is_refused_saying_allow_past_which_records_it(tmp_path: Path) -> None:
    """DESIGN §3.2: more than an hour in the past is `in_the_past` unless --allow-past."""
    past = (
        "add", "--agent", "alice", "--at", "2020-01-05T09:00", "--title", "Old", "--prompt", "p",
    )  # fmt: skip
    refused = await bot(tmp_path, *past)
    assert refused.code == 1 and refused.out == ""
    assert refused.err.startswith("error: --at: 2020-01-05 09:00 Asia/Shanghai is more than an")
    assert "--allow-past" in refused.err and len(refused.err.strip().splitlines()) == 1
    assert "Traceback" not in refused.err
    listed = await bot(tmp_path, "list", "--date", "2020-01-05")
    assert listed.code == 0 and "no slots" in listed.out

    recorded = await bot(tmp_path, *past, "--allow-past")
    assert recorded.code == 0, recorded.err
    listed = await bot(tmp_path, "list", "--date", "2020-01-05")
    assert recorded.out.strip() in listed.out and "09:00" in listed.out


async def test_list_without_a_calendar_file_says_so(tmp_path: Path) -> None:
    run = await bot(tmp_path, "list")
    assert run.code == 0
    assert "no slots" in run.out
    assert not (tmp_path / "calendar.db").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["add", "--agent", "Alice!", "--in", "5m", "--title", "t", "--prompt", "p"], "--agent"),
        (["add", "--agent", "a", "--in", "5 parsecs", "--title", "t", "--prompt", "p"], "--in"),
        (["add", "--agent", "a", "--at", "someday", "--title", "t", "--prompt", "p"], "--at"),
        (["add", "--agent", "a", "--in", "5m", "--title", "t", "--prompt", "p",
          "--priority", "500"], "--priority"),
        (["add", "--agent", "a", "--in", "5m", "--title", "t", "--prompt", "p",
          "--duration", "0"], "--duration"),
        (["add", "--agent", "a", "--title", "t", "--prompt", "p"], "--at"),
        (["add", "--agent", "a", "--in", "5m", "--at", "09:00", "--title", "t", "--prompt", "p"],
         "not allowed"),
        (["list", "--date", "5th of May"], "--date"),
        (["list", "--bogus"], "--bogus"),
        (["serve", "--port", "http"], "--port"),
    ],
)  # fmt: skip
async def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], says: str
) -> None:
    run = await bot(tmp_path, *args)
    assert run.code == 2, (run.out, run.err)
    assert "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1, run.err
    assert run.err.startswith("error:") and says in run.err


async def test_a_bad_setting_is_exit_2_naming_it(tmp_path: Path) -> None:
    run = await bot(tmp_path, "list", TIMEZONE="Mars/Olympus")
    assert run.code == 2
    assert "TIMEZONE" in run.err and "Traceback" not in run.err


async def test_an_unreachable_remote_calendar_is_one_line_exit_1(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    run = await bot(tmp_path, "list", "--agent", "a", CALENDAR_URL=f"http://127.0.0.1:{port}")
    assert run.code == 1
    assert run.err.startswith("error:") and len(run.err.strip().splitlines()) == 1


async def test_serve_without_an_embedded_calendar_is_exit_2(tmp_path: Path) -> None:
    run = await bot(tmp_path, "serve", CALENDAR_URL="http://calendar.example:8080")
    assert run.code == 2 and "--db" in run.err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
async def test_serve_answers_real_requests_and_stops_cleanly(
    tmp_path: Path, stop_with: signal.Signals
) -> None:
    port = free_port()
    db = tmp_path / "served.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "calendar", "serve", "--port", str(port), "--db", str(db),
        cwd=tmp_path,
        env=cli_env(tmp_path, CALENDAR_TOKEN=TOKEN),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Agent-Id": "alice"}
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            deadline = asyncio.get_running_loop().time() + PATIENCE_S
            while True:
                try:
                    async with http.post(
                        f"{base}/calendar/slots",
                        json={"scheduled_at": "2099-01-05T09:00:00+08:00", "title": "served"},
                    ) as resp:
                        assert resp.status == 201
                        slot = await resp.json()
                        break
                except aiohttp.ClientConnectionError:
                    assert process.returncode is None, "serve exited early"
                    assert asyncio.get_running_loop().time() < deadline, "serve never answered"
                    await asyncio.sleep(0.1)
            async with http.get(f"{base}/calendar/day?date=2099-01-05") as resp:
                day = await resp.json()
            assert [s["id"] for s in day["slots"]] == [slot["id"]]
    finally:
        if process.returncode is None:
            process.send_signal(stop_with)
        out, err = await asyncio.wait_for(process.communicate(), PATIENCE_S)
    assert process.returncode == 0, err.decode()
    log = err.decode()
    assert f"listening on {base}" in log
    assert "stopped" in log
    assert TOKEN not in log + out.decode()
    assert db.exists()
