"""The clean spawn environment (DESIGN §5): real children, the real webhook receiver, real settings.

The moderator's own environment holds DISCORD_TOKEN and the full CALENDAR_TOKEN
in every test here; a spawned process and a webhook body must see neither.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from bot.app.errors import ConfigError
from bot.app.settings import Settings, load_settings
from bot.app.wiring import build_waker_chain, close_waker_chain
from bot.core.agents import AgentConfig
from bot.core.tokens import TokenKind, derive_token
from bot.wakers.spawn import wake_id_for
from bot.wakers.spawn_env import MAX_SPAWN_ENV_NAMES, SpawnEnvironment, parse_spawn_env
from tests.discord_io.conftest import SpawnReceiver, make_slot

FULL_TOKEN = "full-calendar-token-" + "f" * 24
DISCORD_SECRET = "discord-bot-token-" + "d" * 40
PRINT_ENV = "import json, os, sys\njson.dump(dict(os.environ), open(sys.argv[1], 'w'))\n"


@pytest.fixture
def parent_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The moderator's environment as an operator would export it, secrets included."""
    for name in ("SPAWN_URL", "SPAWN_COMMAND", "SPAWN_ENV", "CALENDAR_TOKEN_PREVIOUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISCORD_TOKEN", DISCORD_SECRET)
    monkeypatch.setenv("DISCORD_GUILD_ID", "1")
    monkeypatch.setenv("CALENDAR_TOKEN", FULL_TOKEN)
    monkeypatch.setenv("LANG", "C.UTF-8")  # a set LANG also keeps Python from adding LC_CTYPE
    monkeypatch.setenv("TZ", "Europe/Berlin")
    monkeypatch.setenv("PROXY_FOR_AGENTS", "http://proxy.test:3128")
    monkeypatch.setenv("UNRELATED_SECRET", "do-not-pass")
    return monkeypatch


async def _spawned_env(
    tmp_path: Path, agent: AgentConfig, calendar_url: str | None
) -> dict[str, str]:
    """Wake `agent` through the chain the bot builds; the child writes its environment."""
    out = tmp_path / "env.json"
    script = tmp_path / "print_env.py"
    script.write_text(PRINT_ENV, encoding="utf-8")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, spawn_command=shlex.join([sys.executable, str(script), str(out)])
    )
    chain = build_waker_chain(settings, [agent], calendar_url=calendar_url)
    try:
        result = await chain.wake(agent, make_slot("slot-env", agent_id=agent.id), "p")
    finally:
        await close_waker_chain(chain)
    assert result.ok, result
    env: dict[str, str] = json.loads(out.read_text(encoding="utf-8"))
    return env


async def test_child_gets_only_the_allow_list_and_its_own_token(
    parent_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    agent = AgentConfig(id="alice", token_generation=3)
    env = await _spawned_env(tmp_path, agent, "http://127.0.0.1:8099")
    assert env == {
        "PATH": env["PATH"],
        "HOME": env["HOME"],
        "LANG": "C.UTF-8",
        "TZ": "Europe/Berlin",
        "AGENT_ID": "alice",
        "SLOT_ID": "slot-env",
        "WAKE_ID": wake_id_for("slot-env"),
        "CALENDAR_URL": "http://127.0.0.1:8099",
        "CALENDAR_TOKEN": derive_token(FULL_TOKEN, TokenKind.AGENT, "alice", 3),
    }
    text = json.dumps(env)
    assert FULL_TOKEN not in text and DISCORD_SECRET not in text


async def test_spawn_env_passes_only_what_it_names(
    parent_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    parent_env.setenv("SPAWN_ENV", "PROXY_FOR_AGENTS, NOT_EXPORTED")
    parent_env.delenv("CALENDAR_TOKEN")
    env = await _spawned_env(tmp_path, AgentConfig(id="bob"), None)
    assert env["PROXY_FOR_AGENTS"] == "http://proxy.test:3128"
    assert "NOT_EXPORTED" not in env and "UNRELATED_SECRET" not in env
    # No calendar token and no served calendar: neither variable, not an empty one.
    assert "CALENDAR_TOKEN" not in env and "CALENDAR_URL" not in env
    assert DISCORD_SECRET not in json.dumps(env)


async def test_webhook_carries_the_agents_token_never_the_full_one(
    parent_env: pytest.MonkeyPatch, spawn_receiver: SpawnReceiver
) -> None:
    agent = AgentConfig(id="carol", token_generation=2)
    settings = Settings(_env_file=None, spawn_url=spawn_receiver.url)  # type: ignore[call-arg]
    chain = build_waker_chain(settings, [agent], calendar_url="http://127.0.0.1:8099")
    try:
        result = await chain.wake(agent, make_slot("slot-hook", agent_id="carol"), "p")
    finally:
        await close_waker_chain(chain)
    assert result.ok, result
    body = spawn_receiver.bodies[0]
    assert body["calendar_token"] == derive_token(FULL_TOKEN, TokenKind.AGENT, "carol", 2)
    raw = json.dumps(spawn_receiver.bodies) + json.dumps(spawn_receiver.headers)
    assert FULL_TOKEN not in raw and DISCORD_SECRET not in raw


async def test_webhook_without_a_calendar_token_has_no_token_field(
    spawn_receiver: SpawnReceiver,
) -> None:
    from bot.wakers.spawn_url import SpawnUrlWaker

    waker = SpawnUrlWaker(spawn_receiver.url, environment=SpawnEnvironment(secret=None))
    try:
        assert (await waker.wake(AgentConfig(id="dave"), make_slot(agent_id="dave"), "p")).ok
    finally:
        await waker.close()
    assert "calendar_token" not in spawn_receiver.bodies[0]


def test_repr_of_the_environment_never_shows_the_secret() -> None:
    assert FULL_TOKEN not in repr(SpawnEnvironment(secret=FULL_TOKEN))


def test_names_are_trimmed_deduplicated_and_lowercase_names_allowed() -> None:
    assert parse_spawn_env(" http_proxy ,NO_PROXY,http_proxy") == ("http_proxy", "NO_PROXY")
    assert parse_spawn_env("   ") == ()
    assert parse_spawn_env(None) == ()


HOSTILE = [
    pytest.param("A,,B", "name #2 is empty", id="empty-name-between"),
    pytest.param("A,", "name #2 is empty", id="trailing-comma"),
    pytest.param(",", "name #1 is empty", id="only-a-comma"),
    pytest.param("A=B", "'A=B' (name #1) is not a variable name", id="equals"),
    pytest.param("=", "'=' (name #1) is not a variable name", id="bare-equals"),
    pytest.param("ok, spaced name", "'spaced name'", id="space-inside"),
    pytest.param("lower-case-garbage!", "is not a variable name", id="lowercase-garbage"),
    pytest.param("1ABC", "is not a variable name", id="leading-digit"),
    pytest.param("ÉTÉ", "is not a variable name", id="non-ascii"),
    pytest.param("A\x00B", "is not a variable name", id="nul"),
    pytest.param("X" * 129, "at most 128 characters", id="long-name"),
    pytest.param(",".join(f"V{i}" for i in range(10_000)), "at most 8192", id="10000-names"),
    pytest.param("HOME,DISCORD_TOKEN", "DISCORD_TOKEN is a secret", id="discord-token"),
    pytest.param("calendar_token", "calendar_token is a secret", id="calendar-token-lower"),
    pytest.param("CALENDAR_TOKEN_PREVIOUS", "is a secret", id="previous-token"),
    pytest.param("AGENT_ID", "set by the moderator for each wake", id="wake-name"),
]


@pytest.mark.parametrize(("value", "expect"), HOSTILE)
def test_hostile_spawn_env_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch, value: str, expect: str
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, spawn_env=value)
    message = str(caught.value)
    assert "SPAWN_ENV" in message and expect in message
    assert len(message) < 400  # never the whole (maybe 10,000-name) value echoed back


def test_max_names_is_accepted() -> None:
    names = ",".join(f"V{i}" for i in range(MAX_SPAWN_ENV_NAMES))
    assert len(parse_spawn_env(names)) == MAX_SPAWN_ENV_NAMES
