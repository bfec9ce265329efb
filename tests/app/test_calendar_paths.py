"""Calendar commands on a path that cannot hold the calendar (DESIGN §4, §9): exit 2 naming
where the path came from (`CALENDAR_URL`, or `--db` when given), and nothing created."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.app.cli_shell import GOOD_ADD, calendar, clean_shell

#: Each makes a bad calendar path inside the test's directory; and what the error says.
BAD_PATHS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing-directory": (lambda d: d / "nowhere" / "calendar.db", "does not exist"),
    "dangling-link": (
        lambda d: _link(d / "link.db", d / "gone.db"),
        "symbolic link to nothing",
    ),
    "through-a-file": (lambda d: _file(d / "plain") / "calendar.db", "a part of it is a file"),
    "a-directory": (lambda d: _directory(d / "folder"), "is a directory"),
    "a-device": (lambda d: Path("/dev/null"), "device or special file"),
    "not-sqlite": (lambda d: _file(d / "notes.txt", b"dear diary"), "not an SQLite database"),
}


def _link(link: Path, target: Path) -> Path:
    link.symlink_to(target)
    return link


def _file(path: Path, content: bytes = b"") -> Path:
    path.write_bytes(content)
    return path


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


def _everything(where: Path) -> list[str]:
    return sorted(str(p.relative_to(where)) for p in where.rglob("*"))


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    clean_shell(monkeypatch, tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", list(BAD_PATHS))
@pytest.mark.parametrize(
    "command", [("list",), ("list", "--agent", "alice", "--date", "2099-01-05"), ("add", *GOOD_ADD)]
)
def test_a_command_on_a_bad_calendar_url_is_exit_2_naming_it(
    shell: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
    command: tuple[str, ...],
) -> None:
    make, says = BAD_PATHS[case]
    path = make(shell)
    monkeypatch.setenv("CALENDAR_URL", f"sqlite:///{path}")
    before = _everything(shell)
    ran = calendar(capsys, *command)
    line = ran.one_line_error()
    assert ran.code == 2, line
    assert line.startswith(f"error: CALENDAR_URL: {path} ") and says in line
    assert ran.out == ""
    assert _everything(shell) == before
    assert not Path("/dev/null-journal").exists()


@pytest.mark.parametrize("case", list(BAD_PATHS))
def test_serve_on_a_bad_db_option_is_exit_2_naming_the_option(
    shell: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    make, says = BAD_PATHS[case]
    path = make(shell)
    before = _everything(shell)
    ran = calendar(capsys, "serve", "--port", "0", "--db", str(path))
    line = ran.one_line_error()
    assert ran.code == 2, line
    assert line.startswith(f"error: --db: {path} ") and says in line
    assert "CALENDAR_URL" not in line
    assert _everything(shell) == before


def test_serve_on_a_bad_calendar_url_names_calendar_url(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALENDAR_URL", f"sqlite:///{shell / 'nowhere' / 'calendar.db'}")
    ran = calendar(capsys, "serve", "--port", "0")
    assert ran.code == 2
    assert ran.one_line_error().startswith("error: CALENDAR_URL: ")
    assert _everything(shell) == []


def test_list_of_a_calendar_not_created_yet_is_empty_and_creates_nothing(
    shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A good path whose file does not exist yet: nothing to list, still nothing created."""
    ran = calendar(capsys, "list")
    assert ran.code == 0 and "no slots" in ran.out
    assert _everything(shell) == []
