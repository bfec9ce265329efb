"""Files are the user's (DESIGN §4): bad paths, foreign files, corruption, locks, a full disk.

Every refusal is checked three ways: the exit status (2 for a path or file to
fix, 1 for a lock), the variable named in the one-line message, and the folder
left byte for byte as it was (nothing created, renamed or deleted).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.__main__ import main
from bot.calendar.store import EmbeddedCalendar
from bot.calendar.store.schema import open_database
from bot.core.calendar import CalendarUnavailable
from bot.core.models import SlotCreate
from bot.core.sqlite_file import DatabaseFileBusy, DatabaseFileCorrupt, DatabaseFileRefused
from bot.core.state import StateError, StateStore
from testkit.files import corrupt_page, snapshot, untouched
from testkit.processes import REPO_ROOT, run_bot
from testkit.root_logging import own_root_logging

UTC = ZoneInfo("UTC")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder with an agents file and a spawn command: the bot could run here headless."""
    for name in list(os.environ):
        if name.startswith(("DISCORD_", "SPAWN_", "CALENDAR_", "STATE_", "AGENTS_")):
            monkeypatch.delenv(name)
    (tmp_path / "agents.toml").write_text('[[agents]]\nid = "ada"\n')
    monkeypatch.setenv("SPAWN_COMMAND", "true {agent_id}")
    monkeypatch.setenv("CALENDAR_URL", f"sqlite:///{tmp_path / 'calendar.db'}")
    monkeypatch.setenv("STATE_PATH", str(tmp_path / "state.db"))
    monkeypatch.chdir(tmp_path)
    with own_root_logging(monkeypatch):
        yield tmp_path


def _directory(tmp: Path) -> Path:
    (tmp / "data").mkdir()
    (tmp / "data" / "keep.txt").write_text("the user's")
    return tmp / "data"


def _symlink_to_directory(tmp: Path) -> Path:
    _directory(tmp)
    (tmp / "link.db").symlink_to(tmp / "data")
    return tmp / "link.db"


def _symlink_to_device(tmp: Path) -> Path:
    (tmp / "null.db").symlink_to("/dev/null")
    return tmp / "null.db"


def _dangling_symlink(tmp: Path) -> Path:
    (tmp / "gone.db").symlink_to(tmp / "nowhere.db")
    return tmp / "gone.db"


def _through_a_file(tmp: Path) -> Path:
    (tmp / "plain").write_text("a file, not a folder")
    return tmp / "plain" / "x.db"


BAD_PATHS: dict[str, Callable[[Path], Path]] = {
    "directory": _directory,
    "device": lambda tmp: Path("/dev/null"),
    "symlink-to-directory": _symlink_to_directory,
    "symlink-to-device": _symlink_to_device,
    "missing-directory": lambda tmp: tmp / "no" / "such" / "dir" / "x.db",
    "dangling-symlink": _dangling_symlink,
    "path-through-a-file": _through_a_file,
}


def _point(monkeypatch: pytest.MonkeyPatch, variable: str, path: Path) -> None:
    value = f"sqlite:///{path}" if variable == "CALENDAR_URL" else str(path)
    monkeypatch.setenv(variable, value)


@pytest.mark.parametrize("kind", sorted(BAD_PATHS))
@pytest.mark.parametrize(
    ("variable", "argv"),
    [
        ("STATE_PATH", []),
        ("STATE_PATH", ["check-config"]),
        ("CALENDAR_URL", []),
        ("CALENDAR_URL", ["check-config"]),
        (
            "CALENDAR_URL",
            ["calendar", "add", "--agent", "ada", "--in", "1h", "--title", "t", "--prompt", "p"],
        ),
        ("CALENDAR_URL", ["calendar", "list"]),
    ],
    ids=[
        "run-state",
        "check-config-state",
        "run-calendar",
        "check-config-calendar",
        "calendar-add",
        "calendar-list",
    ],
)
def test_a_bad_path_is_exit_2_naming_the_variable_and_changes_nothing(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    variable: str,
    argv: list[str],
) -> None:
    path = BAD_PATHS[kind](workdir)
    _point(monkeypatch, variable, path)
    before = snapshot(workdir)
    journals = [Path(f"/dev/null{s}") for s in ("-journal", "-wal", "-shm")]
    assert not any(j.exists() for j in journals)
    code = main(argv)
    out, err = capsys.readouterr()
    # `list` too: a path that cannot hold a calendar is not "no slots yet" (DESIGN §4).
    assert code == 2, (out, err)
    assert f"{variable}: " in err
    assert "Traceback" not in out + err
    assert snapshot(workdir) == before
    assert not any(j.exists() for j in journals)


def test_check_config_never_says_valid_beside_problems_found(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATE_PATH", str(workdir / "missing" / "state.db"))
    assert main(["check-config"]) == 2
    out, err = capsys.readouterr()
    assert "PROBLEMS FOUND" in out and "valid." not in out
    assert "STATE_PATH" in err
    monkeypatch.setenv("STATE_PATH", str(workdir / "state.db"))
    assert main(["check-config"]) == 0
    out, _ = capsys.readouterr()
    assert "PROBLEMS FOUND" not in out and out.rstrip().endswith("OK")
    assert not (workdir / "state.db").exists()  # check-config opens nothing


def _ada_at(hour: int, title: str, prompt: str) -> SlotCreate:
    """ada's slot at `hour` on 2 March 2026: in the past, allowed so (DESIGN §3.2)."""
    return SlotCreate(
        agent_id="ada",
        scheduled_at=datetime(2026, 3, 2, hour, tzinfo=UTC),
        title=title,
        prompt=prompt,
        allow_past=True,
    )


async def _calendar_with_a_slot(path: Path) -> str:
    calendar = await EmbeddedCalendar.open(path, timezone=UTC)
    try:
        slot = await calendar.create_slot(_ada_at(9, "keep me", "p" * 3000))
    finally:
        await calendar.close()
    return slot.id


async def test_a_corrupt_calendar_is_refused_never_moved_and_says_how_to_recover(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calendar.db"
    await _calendar_with_a_slot(path)
    corrupt_page(path, "slots")
    with untouched(tmp_path), pytest.raises(DatabaseFileCorrupt) as err:  # never moved
        await EmbeddedCalendar.open(path, timezone=UTC)
    message = str(err.value)
    assert message.startswith(f"CALENDAR_URL: {path} failed its integrity check")
    assert ".recover" in message and err.value.exit_code == 2


def test_a_corrupt_calendar_stops_every_command_once_with_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = workdir / "calendar.db"
    asyncio.run(_calendar_with_a_slot(path))
    corrupt_page(path, "slots")
    before = snapshot(workdir)
    for argv in ([], ["calendar", "list"]):
        with caplog.at_level(logging.ERROR):
            assert main(argv) == 2
        _, err = capsys.readouterr()
        assert err.count("integrity check") == 1 and "CALENDAR_URL" in err
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # said once, on stderr
    assert snapshot(workdir) == before


def test_a_corrupt_calendar_served_is_exit_2_in_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "calendar.db"
    asyncio.run(_calendar_with_a_slot(path))
    corrupt_page(path, "slots")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALENDAR_", "DISCORD_"))}
    env.update(PYTHONPATH=str(REPO_ROOT), CALENDAR_URL=f"sqlite:///{path}")
    done = run_bot(tmp_path, env, "calendar", "serve", "--port", "0")
    assert done.returncode == 2, done.stderr
    assert "integrity check" in done.stderr and "Traceback" not in done.stderr


def _contacts_database(path: Path) -> None:
    with closing(sqlite3.connect(path)) as raw:
        raw.execute("CREATE TABLE contacts (name TEXT)")


#: Files at CALENDAR_URL that are not a calendar: (how to write one, what the refusal says).
NOT_A_CALENDAR: dict[str, tuple[Callable[[Path], object], str]] = {
    "zero-bytes": (lambda path: path.write_bytes(b""), r"empty file \(0 bytes\)"),
    "not-sqlite": (
        lambda path: path.write_bytes(b"plain text, somebody's notes\n" * 100),
        "not an SQLite database",
    ),
    "another-programs-database": (_contacts_database, "contacts"),
}


@pytest.mark.parametrize("kind", NOT_A_CALENDAR)
async def test_a_calendar_file_that_is_not_a_calendar_is_refused_untouched(
    tmp_path: Path, kind: str
) -> None:
    write, said = NOT_A_CALENDAR[kind]
    path = tmp_path / "calendar.db"
    write(path)
    with untouched(tmp_path), pytest.raises(DatabaseFileRefused, match=said):
        await EmbeddedCalendar.open(path, timezone=UTC)


async def test_the_state_file_of_the_calendar_is_not_ours_either(tmp_path: Path) -> None:
    """Two settings pointing at one file: each store refuses the other's tables."""
    path = tmp_path / "shared.db"
    await _calendar_with_a_slot(path)
    with pytest.raises(DatabaseFileRefused, match="another program's"):
        await StateStore.open(path)


_LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("PRAGMA locking_mode = EXCLUSIVE")
    db.execute("BEGIN EXCLUSIVE")
    db.execute("CREATE TABLE IF NOT EXISTS heartbeats (agent_id TEXT)")
    print("locked", flush=True)
    sys.stdin.read()
    """
)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Callable[[Path], None]]:
    """Lock a file from another process until the test ends."""
    holders: list[subprocess.Popen[str]] = []

    def lock(path: Path) -> None:
        holder = subprocess.Popen(
            [sys.executable, "-c", _LOCKER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        holders.append(holder)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"

    yield lock
    for holder in holders:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


async def test_a_locked_calendar_is_a_clear_error_after_a_bounded_wait(
    tmp_path: Path, locked: Callable[[Path], None]
) -> None:
    path = tmp_path / "calendar.db"
    await _calendar_with_a_slot(path)
    locked(path)
    with pytest.raises(DatabaseFileBusy) as err:
        await open_database(str(path), busy_timeout_s=0.2)
    assert "locked" in str(err.value) and err.value.exit_code == 1
    assert str(err.value).startswith("CALENDAR_URL: ")


async def test_a_locked_state_file_is_a_clear_error_not_set_aside(
    tmp_path: Path, locked: Callable[[Path], None]
) -> None:
    path = tmp_path / "state.db"
    await (await StateStore.open(path)).close()
    locked(path)
    with untouched(tmp_path), pytest.raises(DatabaseFileBusy, match="STATE_PATH"):
        await StateStore.open(path, busy_timeout_s=0.2)


async def test_a_full_state_file_keeps_every_committed_write_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    state = await StateStore.open(path)
    try:
        for n in range(20):
            await state.save_channel(f"s{n}", "ada", 1000 + n)
        pages = await state._rows("PRAGMA page_count")
        await state._rows(f"PRAGMA max_page_count = {pages[0][0]}")  # the disk is now full
        with pytest.raises(StateError, match="full"):
            await state.record_sync("ada", ok=False, error="x" * 200_000)
        assert len(await state.all_links()) == 20  # still readable, nothing lost
    finally:
        await state.close()
    again = await StateStore.open(path)
    try:
        assert sorted(link.channel_id for link in await again.all_links()) == list(
            range(1000, 1020)
        )
        assert await again.all_syncs() == {}  # the refused write stored nothing
    finally:
        await again.close()


async def test_a_full_calendar_keeps_every_committed_slot_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "calendar.db"
    kept = await _calendar_with_a_slot(path)
    calendar = await EmbeddedCalendar.open(path, timezone=UTC)
    try:
        rows = await calendar._db.execute_fetchall("PRAGMA page_count")
        await calendar._db.execute(f"PRAGMA max_page_count = {next(iter(rows))[0]}")
        with pytest.raises(CalendarUnavailable, match="full"):
            await calendar.create_slot(_ada_at(10, "too much", "q" * 16_000))
        assert [s.id for s in await calendar.list_slots()] == [kept]
    finally:
        await calendar.close()


_FILL_UNTIL_FULL = textwrap.dedent(
    """
    import asyncio, resource, signal, sys
    from bot.core.state import StateError, StateStore

    async def fill(path):
        state = await StateStore.open(path)
        for n in range(10):
            await state.save_channel(f"s{n}", "ada", n)
        import os
        size = os.path.getsize(path) + os.path.getsize(path + "-wal")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 8192, size + 8192))
        try:
            for n in range(10, 10_000):
                await state.save_channel(f"s{n}", "ada", n)
        except StateError as exc:
            print("refused:", exc)
        finally:
            await state.close()

    asyncio.run(fill(sys.argv[1]))
    """
)


async def test_a_file_size_limit_during_writes_loses_nothing_committed(tmp_path: Path) -> None:
    """A real write error from the OS (EFBIG under RLIMIT_FSIZE), in a process of its own."""
    path = tmp_path / "state.db"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _FILL_UNTIL_FULL, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "refused: state file" in done.stdout, (done.stdout, done.stderr)
    again = await StateStore.open(path)
    try:
        ids = sorted(link.channel_id for link in await again.all_links())
    finally:
        await again.close()
    assert ids[:10] == list(range(10))  # what was committed before the limit is all there
    assert ids == list(range(len(ids)))  # and nothing half written
