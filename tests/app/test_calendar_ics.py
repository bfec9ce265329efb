"""`python -m bot calendar import|export` on the embedded calendar, as a shell runs them."""

from __future__ import annotations

from pathlib import Path

import icalendar
import pytest

from tests.app.cli_shell import AGENTS, calendar, clean_shell, stored_titles
from tests.calendar.ics_files import vevent, write

FILE_EVENTS = (
    vevent("one@example", "DTSTART:20990110T090000Z", "SUMMARY:from the app"),
    vevent("allday@example", "DTSTART;VALUE=DATE:20990111", "SUMMARY:holiday"),
    vevent(
        "daily@example",
        "DTSTART;TZID=Europe/Berlin:20990110T080000",
        "RRULE:FREQ=DAILY",
        "SUMMARY:daily",
    ),
)


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    clean_shell(monkeypatch, tmp_path)
    (tmp_path / "agents.toml").write_text(AGENTS)
    return tmp_path


def import_twice_then_export(
    capsys: pytest.CaptureFixture[str], folder: Path, agent: str, db: Path
) -> None:
    """What a person does with a file, and what they must see, whichever calendar it is."""
    path = write(folder / "plan.ics", *FILE_EVENTS)
    ran = calendar(capsys, "import", str(path), "--agent", agent)
    assert ran.code == 0, ran.err
    assert "skipped UID 'allday@example': an all-day event" in ran.out
    assert f"plan.ics for {agent}: 2 new, 0 updated, 0 unchanged, 1 skipped" in ran.out
    ran = calendar(capsys, "import", str(path), "--agent", agent)
    assert "0 new, 0 updated, 2 unchanged, 1 skipped" in ran.out
    assert stored_titles(db).count("from the app") == 1

    window = ("--from", "2099-01-09T00:00", "--to", "2099-01-13T00:00")
    ran = calendar(capsys, "export", "--agent", agent, *window)
    assert ran.code == 0, ran.err
    events = icalendar.Calendar.from_ical(ran.out).walk("VEVENT")
    assert sorted(str(e["SUMMARY"]) for e in events) == ["daily", "from the app"]


def test_import_twice_then_export(shell: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import_twice_then_export(capsys, shell, "alice", shell / "calendar.db")


def test_a_refused_file_imports_nothing(shell: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = shell / "notes.ics"
    path.write_text("just some notes\n")
    ran = calendar(capsys, "import", str(path), "--agent", "alice")
    assert ran.code == 1
    assert "nothing imported" in ran.one_line_error() and "not an iCalendar file" in ran.err
    assert stored_titles(shell / "calendar.db") == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("import", "missing.ics", "--agent", "alice"), "is not a file"),
        (("import", "x.ics", "--agent", "Not An Agent"), "agent"),
        (("export", "--agent", "alice", "--from", "yesterday"), "--from"),
        (
            (
                "export",
                "--agent",
                "alice",
                "--from",
                "2099-01-02T00:00",
                "--to",
                "2099-01-01T00:00",
            ),
            "after",
        ),
    ],
)
def test_bad_usage_is_one_line(
    shell: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], said: str
) -> None:
    (shell / "x.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    ran = calendar(capsys, *args)
    assert ran.code == 2
    assert said in ran.one_line_error()


def test_export_reads_a_long_range_a_quarter_at_a_time(
    shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    winter = vevent("w@example", "DTSTART:20990110T090000Z", "SUMMARY:winter")
    summer = vevent("s@example", "DTSTART:20990810T090000Z", "SUMMARY:summer")
    path = write(shell / "year.ics", winter, summer)
    assert calendar(capsys, "import", str(path), "--agent", "alice").code == 0
    window = ("--from", "2099-01-01T00:00", "--to", "2099-12-31T00:00")
    ran = calendar(capsys, "export", "--agent", "alice", *window)
    assert ran.code == 0, ran.err
    events = icalendar.Calendar.from_ical(ran.out).walk("VEVENT")
    assert sorted(str(e["SUMMARY"]) for e in events) == ["summer", "winter"]
