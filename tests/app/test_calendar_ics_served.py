"""`calendar import|export` against a served calendar (`python -m bot calendar serve`)."""

from __future__ import annotations

from pathlib import Path

import icalendar
import pytest

from tests.app.cli_shell import calendar, stored_titles
from tests.app.test_calendar_add_served import Server, remote, server
from tests.app.test_calendar_ics import FILE_EVENTS
from tests.calendar.ics_files import write

__all__ = ["remote", "server"]  # the served calendar's fixtures, shared with `add`'s tests


def test_import_and_export_through_the_server(
    remote: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "plan.ics", *FILE_EVENTS)
    ran = calendar(capsys, "import", str(path), "--agent", "bob")
    assert ran.code == 0, ran.err
    assert "skipped UID 'allday@example': an all-day event" in ran.out
    assert "plan.ics for bob: 2 new, 0 updated, 0 unchanged, 1 skipped" in ran.out
    ran = calendar(capsys, "import", str(path), "--agent", "bob")
    assert "0 new, 0 updated, 2 unchanged, 1 skipped" in ran.out
    assert stored_titles(remote.db).count("from the app") == 1

    ran = calendar(
        capsys, "export", "--agent", "bob", "--from", "2099-01-09T00:00", "--to", "2099-01-13T00:00"
    )
    assert ran.code == 0, ran.err
    events = icalendar.Calendar.from_ical(ran.out).walk("VEVENT")
    assert sorted(str(e["SUMMARY"]) for e in events) == ["daily", "from the app"]


def test_a_refused_upload_is_one_line(
    remote: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.ics"
    path.write_text("just notes\n")
    ran = calendar(capsys, "import", str(path), "--agent", "bob")
    assert ran.code == 1
    assert "nothing imported" in ran.one_line_error() and "not an iCalendar file" in ran.err
    good = write(tmp_path / "good.ics", *FILE_EVENTS)
    ran = calendar(capsys, "import", str(good), "--agent", "mallory")
    assert ran.code == 1 and "mallory" in ran.one_line_error()
