"""`check-config` names an unusable `ALERT_CHANNEL_ID` (exit 1) and confirms a usable one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.checkconfig import check_config as check_config_here
from testkit.fakediscord import FakeDiscord
from tests.app.test_settings import ALL_VARS
from tests.cogs.test_checkconfig import assert_no_token, check_config


async def test_a_usable_alert_channel_is_confirmed(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    alerts = fake_discord.add_channel("alerts")
    out = await check_config(fake_discord, tmp_path, 0, ALERT_CHANNEL_ID=str(alerts))
    assert f"Alert channel:  #alerts ({alerts}): can post there" in out
    assert out.rstrip().endswith("OK")


async def test_a_category_as_alert_channel_is_named_and_exits_1(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    category = fake_discord.add_category("ops")
    out = await check_config(fake_discord, tmp_path, 1, ALERT_CHANNEL_ID=str(category))
    assert f"Alert channel:  PROBLEM: ALERT_CHANNEL_ID={category} is a category (ops)" in out
    assert "Permissions:    all required present" in out  # the rest of the check still ran
    assert "PROBLEMS FOUND" in out
    assert_no_token(fake_discord, out)


async def test_an_unknown_alert_channel_is_named_and_exits_1(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    out = await check_config(fake_discord, tmp_path, 1, ALERT_CHANNEL_ID="123456789012345678")
    assert "ALERT_CHANNEL_ID=123456789012345678: no such channel" in out


@pytest.fixture
def headless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid headless configuration (spawn waking) in `tmp_path`, nothing from the parent."""
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "agents.toml").write_text('[[agents]]\nid = "alice"\n')
    monkeypatch.setenv("SPAWN_COMMAND", "wake-agent {agent_id} {slot_id}")


@pytest.mark.usefixtures("headless")
@pytest.mark.parametrize("value", ["#alerts", "0", "-5", "1e3", "9" * 30])
def test_a_malformed_alert_channel_id_is_a_configuration_error(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALERT_CHANNEL_ID", value)
    assert check_config_here() == 2
    _, err = capsys.readouterr()
    assert "ALERT_CHANNEL_ID" in err and "Traceback" not in err


@pytest.mark.usefixtures("headless")
def test_headless_check_config_says_alerts_need_discord(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALERT_CHANNEL_ID", "123456789012345678")
    assert check_config_here() == 0
    out, _ = capsys.readouterr()
    assert "alerts need Discord" in out and "log at WARNING" in out
