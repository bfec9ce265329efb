"""The chain as the scheduler uses it: Discord first, the spawn webhook when Discord refuses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
import pytest

from bot.app.settings import Settings
from bot.app.wiring import build_waker_chain, close_waker_chain
from bot.core.clock import FakeClock
from bot.core.state import StateStore
from bot.wakers.spawn import wake_id_for
from testkit.fakediscord import FakeDiscord
from testkit.fakediscord.fixtures import connected_client
from tests.discord_io.conftest import SpawnReceiver, agent_of, make_slot, text_channels

RestClient = Callable[[FakeDiscord], Awaitable[discord.Client]]
GUILD_CHANNELS = "/guilds/{guild_id}/channels"


def _settings(fake: FakeDiscord, spawn_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        discord_token=fake.token,
        discord_guild_id=fake.guild_id,
        admin_role_id=fake.admin_role.id,
        spawn_url=spawn_url,
    )


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISCORD_TOKEN", "DISCORD_GUILD_ID", "SPAWN_URL", "SPAWN_COMMAND"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("status", "code", "expect"),
    [
        (403, 50013, "Missing Permissions"),
        (400, 30013, "500 channels"),
    ],
)
async def test_refused_channel_creation_falls_back_to_the_spawn_webhook(
    fake: FakeDiscord,
    rest_client: RestClient,
    state: StateStore,
    clock: FakeClock,
    spawn_receiver: SpawnReceiver,
    status: int,
    code: int,
    expect: str,
) -> None:
    client = await rest_client(fake)
    chain = build_waker_chain(
        _settings(fake, spawn_receiver.url),
        [],
        discord_client=client,
        ledger=state,
        calendar_url="http://127.0.0.1:8080",
        clock=clock,
    )
    alice = agent_of(fake, "alice")
    slot = make_slot("s-fallback")
    # Both the category and the channel creation are refused (whichever comes first).
    fake.fail_next("POST", GUILD_CHANNELS, status, code=code, count=2)
    try:
        result = await chain.wake(alice, slot, "the prompt")
    finally:
        await close_waker_chain(chain)

    assert result.ok and result.via == "spawn_url", result
    assert result.attempts[0].startswith("discord: ") and expect in result.attempts[0]
    body = spawn_receiver.bodies[0]
    assert body == {
        "agent_id": "alice",
        "slot": slot.model_dump(mode="json"),
        "prompt": "the prompt",
        "wake_id": wake_id_for(slot.id),
        "calendar_url": "http://127.0.0.1:8080",
    }
    assert text_channels(fake) == []


async def test_wake_with_the_gateway_cache(
    fake: FakeDiscord, state: StateStore, clock: FakeClock, spawn_receiver: SpawnReceiver
) -> None:
    """A connected bot: the guild and its channels come from discord.py's cache."""
    async with connected_client(fake) as client:
        chain = build_waker_chain(
            _settings(fake, spawn_receiver.url),
            [],
            discord_client=client,
            ledger=state,
            clock=clock,
        )
        alice = agent_of(fake, "alice")
        first = await chain.wake(alice, make_slot("s-gw-1"), "one")
        assert first.ok and first.via == "discord", first
        channel_id = int(first.reference or 0)
        # The cache learns of the channel from the gateway; the next wake places by it.
        await fake.wait_for(lambda: client.get_channel(channel_id) is not None)
        second = await chain.wake(alice, make_slot("s-gw-2"), "two")
        again = await chain.wake(alice, make_slot("s-gw-1"), "one")
        await close_waker_chain(chain)
    assert second.ok and again.ok
    assert again.reference == first.reference
    assert len(text_channels(fake)) == 2
    assert len([c for c in fake.channels.values() if c["type"] == 4]) == 1
    assert not spawn_receiver.bodies
    no_rest_listing = fake.requests_for("GET", GUILD_CHANNELS)
    assert no_rest_listing == []
    assert fake.viewers(channel_id) == {
        fake.agents["alice"].id,
        fake.bot_user.id,
        fake.admin.id,
    }
