"""AGENTS_FILE: good entries parse; every bad one is refused with the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.agents_file import load_agents, parse_agents
from bot.app.errors import ConfigError
from bot.core.agents import AgentConfig


def test_agents_parse_with_overrides() -> None:
    text = """
[[agents]]
id = "alice"
discord_user_id = 111

[[agents]]
id = "bob-2"
spawn_url = "http://127.0.0.1:9000/wake"
spawn_command = "agent --slot {slot_id}"

[[agents]]
id = "carol_x"
discord_user_id = "333"
spawn_command = ["agent", "--prompt", "{prompt}"]
"""
    agents = parse_agents(text, source="agents.toml")
    assert agents == [
        AgentConfig(id="alice", discord_user_id=111),
        AgentConfig(
            id="bob-2",
            spawn_url="http://127.0.0.1:9000/wake",
            spawn_command=("agent", "--slot", "{slot_id}"),
        ),
        AgentConfig(
            id="carol_x", discord_user_id=333, spawn_command=("agent", "--prompt", "{prompt}")
        ),
    ]


@pytest.mark.parametrize(
    ("body", "line", "hint"),
    [
        ('[[agents]]\nid = "Alice"\n', 1, "must match"),
        ('[[agents]]\nid = "a"\n\n[[agents]]\nid = "-bad"\n', 4, "must match"),
        ('[[agents]]\nid = "' + "a" * 33 + '"\n', 1, "must match"),
        ('[[agents]]\nid = "a"\n[[agents]]\nid = "a"\n', 3, "duplicate agent id 'a'"),
        ('[[agents]]\nid = "a"\ndiscord_user_id = -1\n', 1, "positive integer"),
        ('[[agents]]\nid = "a"\ndiscord_user_id = true\n', 1, "positive integer"),
        ('[[agents]]\nid = "a"\nspawn_url = "file:///x"\n', 1, "http"),
        ('[[agents]]\nid = "a"\nspawn_command = 5\n', 1, "string or a list"),
        ('[[agents]]\nid = "a"\nspawn_command = []\n', 1, "empty"),
        ('[[agents]]\nid = "a"\ncolour = "red"\n', 1, "unknown key"),
    ],
)
def test_bad_agent_names_file_and_line(body: str, line: int, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_agents(body, source="agents.toml")
    message = str(info.value)
    assert message.startswith("AGENTS_FILE: ")
    assert f"agents.toml:{line}" in message
    assert hint in message


def test_toml_syntax_error_names_the_file() -> None:
    with pytest.raises(ConfigError) as info:
        parse_agents("[[agents]\nid = 1", source="conf/agents.toml")
    assert "conf/agents.toml" in str(info.value)
    assert "line 1" in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_agents(tmp_path / "nope.toml")
    assert "AGENTS_FILE" in str(info.value)
    assert "does not exist" in str(info.value)


def test_no_agents_is_an_empty_list() -> None:
    assert parse_agents("# nothing yet\n") == []
