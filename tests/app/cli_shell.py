"""Running `python -m bot calendar …` in-process as a shell would, and looking at what it stored."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app.cli import run
from tests.app.test_settings import ALL_VARS

#: Two agents, bob's tokens at generation 4 (so a generation-1 token of his is revoked).
AGENTS = '[[agents]]\nid = "alice"\n\n[[agents]]\nid = "bob"\ntoken_generation = 4\n'
#: The options every good `add` needs, each test adding or overriding one.
GOOD_ADD = ("--agent", "alice", "--at", "2099-01-05T09:00+08:00", "--title", "t", "--prompt", "p")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def one_line_error(self) -> str:
        """The single `error:` line a failed command must print, and nothing else."""
        assert "Traceback" not in self.out + self.err, self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), self.err
        assert len(lines[0]) < 600, lines[0]
        return lines[0]


def clean_shell(monkeypatch: pytest.MonkeyPatch, where: Path) -> None:
    """An empty directory (no .env), no inherited setting, the calendar file in `where`."""
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(where)
    monkeypatch.setenv("CALENDAR_URL", f"sqlite:///{where / 'calendar.db'}")
    monkeypatch.setenv("AGENTS_FILE", str(where / "agents.toml"))
    monkeypatch.setenv("TIMEZONE", "Asia/Shanghai")


def calendar(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    try:
        code = run(["calendar", *args])
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def stored_titles(db: Path) -> list[str]:
    """Every slot's title in the calendar file (read-only: the file may be served meanwhile)."""
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return [row[0] for row in connection.execute("SELECT title FROM slots")]
