"""check-config without Discord: it must refuse what `python -m bot` would refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.checkconfig import check_config
from tests.app.test_settings import ALL_VARS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_nothing_to_wake_with_is_exit_2_saying_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "agents.toml").write_text('[[agents]]\nid = "alice"\n')
    assert check_config() == 2
    out, err = capsys.readouterr()
    assert "alice: NO WAY TO WAKE" in out
    assert "nothing can wake the agents" in err
    assert "SPAWN_URL" in err and "DISCORD_TOKEN" in err
    assert "\nOK" not in out


def test_one_unwakeable_agent_among_others_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "agents.toml").write_text(
        '[[agents]]\nid = "alice"\nspawn_url = "http://127.0.0.1:9/wake"\n[[agents]]\nid = "bob"\n'
    )
    assert check_config() == 1
    out, _ = capsys.readouterr()
    assert "alice: spawn url" in out
    assert "bob: NO WAY TO WAKE" in out
    assert "Nothing can wake bob" in out
    assert "PROBLEMS FOUND" in out


def test_headless_with_a_spawn_fallback_is_ok(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "agents.toml").write_text('[[agents]]\nid = "alice"\n[[agents]]\nid = "bob"\n')
    monkeypatch.setenv("SPAWN_COMMAND", "wake-agent {agent_id} {slot_id}")
    monkeypatch.setenv("CALENDAR_TOKEN", "calendar-secret-value")
    assert check_config() == 0
    out, err = capsys.readouterr()
    assert "alice: spawn command" in out and "bob: spawn command" in out
    assert out.rstrip().endswith("OK")
    assert "calendar-secret-value" not in out + err
    assert "CALENDAR_TOKEN" in out
