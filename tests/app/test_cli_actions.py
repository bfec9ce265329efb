"""The parsers `bot.app.cli_actions` and `slot_options.add_slot_options` build: the shared
arguments keep their order and their texts, whichever action declares them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.cli_shell import calendar, clean_shell


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (("import",), "file, --agent"),  # the file comes first, though --agent is shared
        (("export",), "--agent"),
        (("add",), "--agent, --title"),
        (("edit",), "SLOT_ID"),
        (("cancel",), "SLOT_ID"),
    ],
)
def test_missing_arguments_are_named_in_declaration_order(
    argv: tuple[str, ...],
    missing: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean_shell(monkeypatch, tmp_path)
    ran = calendar(capsys, *argv)
    assert ran.code == 2
    line = ran.one_line_error()
    assert f"the following arguments are required: {missing} (" in line, line


def test_add_states_its_defaults_and_edit_does_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_shell(monkeypatch, tmp_path)
    added, edited = (calendar(capsys, action, "--help") for action in ("add", "edit"))
    assert (added.code, edited.code) == (0, 0)
    added_text, edited_text = (" ".join(ran.out.split()) for ran in (added, edited))
    assert "0..100, higher first (default 50)" in added_text
    assert "estimated minutes, 1..10080 (default 30)" in added_text
    assert "(default" not in edited_text
    for text in ("at most 200 characters", "0..100, higher first", "move to: from now"):
        assert text in edited_text, text
