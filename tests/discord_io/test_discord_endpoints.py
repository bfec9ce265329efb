"""point_discord_at: the only knobs discord.py has for its REST base and gateway."""

from __future__ import annotations

from collections.abc import Iterator

import discord.gateway
import discord.http
import pytest
import yarl

from bot.discord_io.endpoints import (
    current_discord_endpoints,
    point_discord_at,
    restore_discord_defaults,
)


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    restore_discord_defaults()


def test_sets_both_class_attributes_and_is_idempotent() -> None:
    point_discord_at("http://127.0.0.1:8765/api/v10/", "ws://127.0.0.1:8765/gateway")
    point_discord_at("http://127.0.0.1:8765/api/v10/", "ws://127.0.0.1:8765/gateway")
    assert discord.http.Route.BASE == "http://127.0.0.1:8765/api/v10"
    assert discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:8765/api/v10/users/@me"
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    assert isinstance(gateway, yarl.URL) and str(gateway) == "ws://127.0.0.1:8765/gateway"
    assert current_discord_endpoints() == (
        "http://127.0.0.1:8765/api/v10",
        "ws://127.0.0.1:8765/gateway",
    )


def test_restore_puts_discords_defaults_back() -> None:
    point_discord_at("http://127.0.0.1:1/api/v10", "ws://127.0.0.1:1/")
    restore_discord_defaults()
    assert current_discord_endpoints() == (
        "https://discord.com/api/v10",
        "wss://gateway.discord.gg/",
    )


@pytest.mark.parametrize(
    ("api", "gateway"),
    [("ftp://x/api", "wss://g/"), ("https://discord.com/api/v10", "https://g/")],
)
def test_bad_urls_are_refused_and_change_nothing(api: str, gateway: str) -> None:
    before = current_discord_endpoints()
    with pytest.raises(ValueError, match="must be"):
        point_discord_at(api, gateway)
    assert current_discord_endpoints() == before
