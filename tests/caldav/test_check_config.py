"""`check-config` against a real Radicale (DESIGN §9, §10): what is wrong, named apart.

A refused password, a calendar home that is not there and a server that does not
answer are each exit 2 with a line saying which; the right account is exit 0.
The password never appears in what a person's shell shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from testkit.processes import free_port
from testkit.radicale import DavHome
from tests.app.test_settings import ALL_VARS

WRONG_PASSWORD = "not-the-password-7f3a"


@pytest.fixture
def configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dav_home: DavHome
) -> pytest.MonkeyPatch:
    """Everything set for a headless moderator on `dav_home` (its own account)."""
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "agents.toml").write_text('[[agents]]\nid = "ada"\n', encoding="utf-8")
    monkeypatch.setenv("AGENTS_FILE", str(tmp_path / "agents.toml"))
    monkeypatch.setenv("STATE_PATH", str(tmp_path / "state.db"))
    monkeypatch.setenv("SPAWN_URL", "http://127.0.0.1:9/wake")
    monkeypatch.setenv("CALENDAR_URL", "caldav+" + dav_home.url)
    monkeypatch.setenv("CALENDAR_USERNAME", dav_home.username)
    monkeypatch.setenv("CALENDAR_PASSWORD", dav_home.password)
    return monkeypatch


def check(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check-config"])
    out, err = capsys.readouterr()
    return code, out + err


def test_the_right_account_is_ok(
    configured: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], dav_home: DavHome
) -> None:
    code, shown = check(capsys)
    assert code == 0, shown
    assert shown.rstrip().endswith("OK") and dav_home.password not in shown


def test_a_wrong_password_is_named_as_such(
    configured: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], dav_home: DavHome
) -> None:
    configured.setenv("CALENDAR_PASSWORD", WRONG_PASSWORD)
    code, shown = check(capsys)
    assert code == 2
    assert "CALENDAR_URL" in shown and "refused CALENDAR_USERNAME/CALENDAR_PASSWORD" in shown
    assert "PROBLEMS FOUND" in shown and "Traceback" not in shown
    assert WRONG_PASSWORD not in shown and dav_home.password not in shown


def test_a_password_in_the_url_is_never_shown_either(
    configured: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], dav_home: DavHome
) -> None:
    host = dav_home.url.removeprefix("http://")
    configured.setenv("CALENDAR_URL", f"caldav+http://{dav_home.username}:{WRONG_PASSWORD}@{host}")
    code, shown = check(capsys)
    assert code == 2 and "refused" in shown
    assert WRONG_PASSWORD not in shown and dav_home.password not in shown


def test_a_missing_home_is_named_with_its_path(
    configured: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], dav_home: DavHome
) -> None:
    configured.setenv("CALENDAR_URL", f"caldav+{dav_home.url}nothere/")
    code, shown = check(capsys)
    assert code == 2
    assert f"no calendar home at /{dav_home.username}/nothere/" in shown
    assert "refused" not in shown and "unreachable" not in shown
    assert dav_home.password not in shown and "Traceback" not in shown


def test_an_unreachable_server_is_named_with_its_host_and_port(
    configured: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], dav_home: DavHome
) -> None:
    port = free_port()  # nothing listens there
    configured.setenv("CALENDAR_URL", f"caldav+http://127.0.0.1:{port}/{dav_home.username}/")
    code, shown = check(capsys)
    assert code == 2
    assert f"127.0.0.1:{port} unreachable" in shown and "refused CALENDAR" not in shown
    assert dav_home.password not in shown and "Traceback" not in shown
