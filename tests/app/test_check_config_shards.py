"""check-config with SHARD: which agents this moderator handles, and a bad value named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.checkconfig import check_config
from bot.core.shards import shard_index
from tests.app.test_settings import ALL_VARS

AGENTS = ("alice", "bob", "carol", "dave")


@pytest.fixture(autouse=True)
def headless_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
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


@pytest.mark.parametrize("value", ["2/2", "-1/3", "a/b", "0/0", "1/" + "9" * 300])
def test_a_bad_shard_is_exit_2_naming_it(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHARD", value)
    assert check_config() == 2
    out, err = capsys.readouterr()
    assert "SHARD" in err
    assert "Traceback" not in out + err
    assert "\nOK" not in out
