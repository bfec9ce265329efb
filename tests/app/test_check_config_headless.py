"""check-config of a valid headless configuration (spawn waking, no Discord) with one more
variable: which agents a SHARD handles, what ALERT_CHANNEL_ID means without Discord, and
a malformed value of either named as a configuration error."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.checkconfig import check_config
from bot.core.shards import shard_index
from tests.app.test_settings import ALL_VARS

AGENTS = ("alice", "bob", "carol", "dave")


@pytest.fixture(autouse=True)
def headless_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A valid headless configuration in `tmp_path`, nothing from the parent's environment."""
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "agents.toml").write_text("".join(f'[[agents]]\nid = "{a}"\n' for a in AGENTS))
    monkeypatch.setenv("SPAWN_COMMAND", "wake-agent {agent_id} {slot_id}")


@pytest.mark.parametrize("index", [0, 1])
def test_the_shard_and_its_agents_are_printed(
    index: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHARD", f"{index}/2")
    assert check_config() == 0
    out, _ = capsys.readouterr()
    line = next(line for line in out.splitlines() if line.startswith(f"Shard {index}/2"))
    mine = [a for a in AGENTS if shard_index(a, 2) == index]
    assert line.split("handles ", 1)[1].split(";")[0] == ", ".join(mine)
    assert ("slash commands" in line) is (index == 0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        *(("SHARD", v) for v in ["2/2", "-1/3", "a/b", "0/0", "1/" + "9" * 300]),
        *(("ALERT_CHANNEL_ID", v) for v in ["#alerts", "0", "-5", "1e3", "9" * 30]),
    ],
)
def test_a_malformed_value_is_exit_2_naming_the_variable(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    assert check_config() == 2
    out, err = capsys.readouterr()
    assert name in err
    assert "Traceback" not in out + err
    assert "\nOK" not in out


def test_headless_check_config_says_alerts_need_discord(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALERT_CHANNEL_ID", "123456789012345678")
    assert check_config() == 0
    out, _ = capsys.readouterr()
    assert "alerts need Discord" in out and "log at WARNING" in out
