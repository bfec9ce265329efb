"""`calendar import|export` against a served calendar (`python -m bot calendar serve`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.cli_shell import calendar
from tests.app.test_calendar_add_served import Server, remote, server
from tests.app.test_calendar_ics import FILE_EVENTS, import_twice_then_export
from tests.calendar.ics_files import write

__all__ = ["remote", "server"]  # the served calendar's fixtures, shared with `add`'s tests


def test_import_and_export_through_the_server(
    remote: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_twice_then_export(capsys, tmp_path, "bob", remote.db)


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
