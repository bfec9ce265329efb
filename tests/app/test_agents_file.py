"""AGENTS_FILE: good entries parse; every bad one is refused with the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.agents_file import MAX_AGENTS, MAX_FILE_BYTES, load_agents, parse_agents
from bot.app.errors import ConfigError
from bot.core.agents import AgentConfig
from bot.core.tokens import MAX_TOKEN_GENERATION


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


# ---- token_generation (DESIGN §3.3) -----------------------------------------------


def test_token_generation_is_read_and_defaults_to_1() -> None:
    text = (
        '[[agents]]\nid = "a"\n\n[[agents]]\nid = "b"\ntoken_generation = 7\n\n'
        f'[[agents]]\nid = "c"\ntoken_generation = {MAX_TOKEN_GENERATION}\n'
    )
    assert [a.token_generation for a in parse_agents(text)] == [1, 7, MAX_TOKEN_GENERATION]


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ('"3"', "a str"),
        ("true", "a bool"),
        ("1.0", "a float"),
        ("[1]", "a list"),
        ("{ gen = 1 }", "a dict"),
        ("1979-05-27", "a date"),
        ("0", "0"),
        ("-1", "-1"),
        (str(MAX_TOKEN_GENERATION + 1), str(MAX_TOKEN_GENERATION + 1)),
        ("9" * 40, "9999"),
    ],
)
def test_bad_token_generation_names_file_and_line(value: str, got: str) -> None:
    body = f'[[agents]]\nid = "ok"\n\n[[agents]]\nid = "bad"\ntoken_generation = {value}\n'
    with pytest.raises(ConfigError) as info:
        parse_agents(body, source="agents.toml")
    message = str(info.value)
    assert message.startswith("AGENTS_FILE: agents.toml:4: token_generation of 'bad'")
    assert f"1..{MAX_TOKEN_GENERATION}" in message and f"(got {got}" in message
    assert len(message) < 300


# ---- hostile tables: every one a clear ConfigError, never a traceback ------------------

_ENTRY = '[[agents]]\nid = "a"\n'


def _refused(key: str, hint: str, values: list[str], entry: str = _ENTRY) -> list[tuple[str, str]]:
    """One (body, hint) row per TOML value: `entry` with `key = value` added, each refused with
    the same hint, so a table of one key's bad values states the key and its message once."""
    return [(f"{entry}{key} = {value}\n", hint) for value in values]


HOSTILE_KEYS = [
    *_refused(
        "id",
        "must match",
        ["5", "true", '["a"]', '{ x = "a" }', "1979-05-27T07:32:00Z", '""'],
        entry="[[agents]]\n",
    ),
    ("[[agents]]\ndiscord_user_id = 1\n", "id None must match"),  # no id at all
    *_refused(
        "discord_user_id",
        "positive integer",
        ['"abc"', "1.5", "[1]", "{ id = 1 }", str(2**63), '"' + "9" * 30 + '"', '"\u0663"', "0"],
    ),
    *_refused(
        "spawn_url",
        "http(s) URL",
        [
            "5",
            '["http://x.test"]',
            '{ url = "http://x.test" }',
            '"javascript:alert(1)"',
            '"http://[::1/wake"',
        ],
    ),
    *_refused("spawn_url", "at most 4096", ['"http://x.test/' + "a" * 5000 + '"']),
    # held to SPAWN_URL's rule: what would fail every wake fails at start, saying why
    *_refused("spawn_url", "has a port that is not", ['"http://x.test:99999/wake"']),
    *_refused("spawn_url", "has a port that is not", ['"http://x.test:0/wake"']),
    *_refused("spawn_url", "not a host name", ['"http://x..test/wake"']),
    *_refused("spawn_url", "spaces or control characters", ['"http://x.test/wa ke"']),
    *_refused("spawn_url", "has no host", ['"http:///wake"']),
    *_refused("spawn_url", "a [ without its ]", ['"http://[::1/wake"']),
    *_refused(
        "spawn_command",
        "string or a list of strings",
        ["[1, 2]", '[["nested"]]', '{ run = "x" }', "true"],
    ),
    *_refused(
        "spawn_command",
        "cannot be split into arguments (No closing quotation)",
        ['"agent \'unclosed"'],
    ),
    *_refused(
        "spawn_command",
        "too long",
        ["[" + ", ".join(['"x"'] * 101) + "]", '["' + "x" * 5000 + '"]', '"' + "x" * 5000 + '"'],
    ),
    *_refused("spawn_command", "empty", ['""']),
    # the file's shape
    ('agents = "alice"\n', "[[agents]] tables"),
    ("agents = [1, 2]\n", "[[agents]] table"),
    ('[agent]\nid = "a"\n', "unknown top-level key(s) 'agent'"),
    ('[[agents]]\nid = "a"\n[agents.extra]\nx = 1\n', "unknown key(s) 'extra'"),
]


@pytest.mark.parametrize(("body", "hint"), HOSTILE_KEYS)
def test_hostile_tables_are_clear_config_errors(body: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_agents(body, source="agents.toml")
    message = str(info.value)
    assert message.startswith("AGENTS_FILE: agents.toml")
    assert hint in message
    assert len(message) < 400, "a hostile value must not be echoed whole"


def test_a_10000_agent_file_is_refused_and_the_maximum_is_read() -> None:
    many = "".join(f'[[agents]]\nid = "agent{i}"\n' for i in range(10_000))
    with pytest.raises(ConfigError, match=f"10000 agents; one moderator runs at most {MAX_AGENTS}"):
        parse_agents(many, source="agents.toml")
    most = "".join(f'[[agents]]\nid = "agent{i}"\n' for i in range(MAX_AGENTS))
    assert len(parse_agents(most)) == MAX_AGENTS


@pytest.mark.parametrize(
    "nested",
    [
        "x = " + "[" * 100_000 + "]" * 100_000,
        "x = " + "{ a = " * 20_000 + "1" + " }" * 20_000,
    ],
    ids=["arrays", "inline-tables"],
)
def test_deeply_nested_toml_is_a_clear_error(nested: str) -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_agents('[[agents]]\nid = "a"\n' + nested + "\n", source="agents.toml")


def test_a_huge_string_is_refused_without_being_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        parse_agents('[[agents]]\nid = "' + "a" * 1_000_000 + '"\n', source="agents.toml")
    assert "must match" in str(info.value) and len(str(info.value)) < 400


def test_huge_binary_and_device_files_are_clear_errors(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (MAX_FILE_BYTES + 10) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="larger than"):
        load_agents(big)
    with pytest.raises(ConfigError, match="larger than"):
        load_agents(Path("/dev/zero"))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'[[agents]]\nid = "a"\n\xff\xfe\n')
    with pytest.raises(ConfigError, match=r"binary.toml:3: not UTF-8"):
        load_agents(binary)
    with pytest.raises(ConfigError, match="cannot read"):
        load_agents(tmp_path)


def test_the_example_file_is_a_valid_agents_file() -> None:
    example = Path(__file__).resolve().parents[2] / "agents.example.toml"
    agents = load_agents(example)
    assert [a.id for a in agents] == ["alice", "bob"]
