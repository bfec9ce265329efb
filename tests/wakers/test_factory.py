"""build_waker_chain: which wakers, in which order, and the chain falling back for real."""

from __future__ import annotations

import sys
from pathlib import Path

import discord
import pytest

from bot.app.settings import Settings
from bot.app.wiring import (
    NoWakerConfigured,
    build_waker_chain,
    channel_waker,
    close_waker_chain,
    unwakeable_agents,
)
from bot.core.agents import AgentConfig
from bot.core.state import StateStore
from bot.discord_io.channel_waker import PrivateChannelWaker
from bot.wakers.spawn_command import SpawnCommandWaker
from bot.wakers.spawn_url import SpawnUrlWaker
from tests.discord_io.conftest import SpawnReceiver, make_slot


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISCORD_TOKEN", "DISCORD_GUILD_ID", "SPAWN_URL", "SPAWN_COMMAND"):
        monkeypatch.delenv(name, raising=False)


async def test_order_is_discord_then_url_then_command(tmp_path: Path) -> None:
    settings = _settings(
        discord_token="x" * 20,
        discord_guild_id=42,
        spawn_url="http://127.0.0.1:9/hook",
        spawn_command="launcher {agent_id}",
        wake_category="wakes",
    )
    state = await StateStore.open(tmp_path / "state.db")
    client = discord.Client(intents=discord.Intents.none())
    try:
        chain = build_waker_chain(settings, [], discord_client=client, ledger=state)
        assert [type(w) for w in chain.wakers] == [
            PrivateChannelWaker,
            SpawnUrlWaker,
            SpawnCommandWaker,
        ]
        assert [w.name for w in chain.wakers] == ["discord", "spawn_url", "spawn_command"]
        assert channel_waker(chain) is chain.wakers[0]
        with_discord = AgentConfig(id="a", discord_user_id=7)
        without = AgentConfig(id="b")
        assert chain.wakers[0].can_wake(with_discord)
        assert not chain.wakers[0].can_wake(without)
        await close_waker_chain(chain)
    finally:
        await client.close()
        await state.close()


def test_headless_chain_uses_per_agent_overrides_only() -> None:
    agents = [
        AgentConfig(id="a", spawn_url="http://127.0.0.1:9/a"),
        AgentConfig(id="b"),
    ]
    chain = build_waker_chain(_settings(), agents)
    assert [w.name for w in chain.wakers] == ["spawn_url"]
    assert channel_waker(chain) is None
    assert unwakeable_agents(chain, agents) == ["b"]


def test_nothing_configured_is_a_clear_error() -> None:
    with pytest.raises(NoWakerConfigured, match="SPAWN_URL"):
        build_waker_chain(_settings(), [AgentConfig(id="a", discord_user_id=1)])


async def test_chain_falls_back_from_a_refusing_webhook_to_the_command(
    spawn_receiver: SpawnReceiver, tmp_path: Path
) -> None:
    spawn_receiver.default_status = 403
    marker = tmp_path / "ran"
    script = tmp_path / "launch.py"
    script.write_text(
        f"import sys\nopen({str(marker)!r}, 'w').write(sys.argv[1])\n", encoding="utf-8"
    )
    settings = _settings(
        spawn_url=spawn_receiver.url,
        spawn_command=f"{sys.executable} {script} {{slot_id}}",
    )
    chain = build_waker_chain(settings, [])
    try:
        result = await chain.wake(AgentConfig(id="a"), make_slot("slot-77", agent_id="a"), "p")
    finally:
        await close_waker_chain(chain)
    assert result.ok and result.via == "spawn_command"
    assert marker.read_text() == "slot-77"
    assert len(spawn_receiver.bodies) == 1
    assert result.attempts[0].startswith("spawn_url: ") and "HTTP 403" in result.attempts[0]
