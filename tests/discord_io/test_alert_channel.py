"""`ALERT_CHANNEL_ID` checked over REST as `check-config` does: every way it can be wrong, named."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
import pytest
from aiohttp import web

from bot.discord_io.alert_channel import resolve_alert_channel
from testkit.fakediscord import ROLE_OVERWRITE, FakeDiscord, Overwrite, P
from testkit.fakediscord.errors import json_response

Login = Callable[[FakeDiscord], Awaitable[discord.Client]]


async def resolve(fake: FakeDiscord, rest_client: Login, channel_id: int) -> Any:
    client = await rest_client(fake)
    return await resolve_alert_channel(client, fake.guild_id, channel_id)


async def test_a_text_channel_the_moderator_can_post_in(
    fake: FakeDiscord, rest_client: Login
) -> None:
    channel_id = fake.add_channel("alerts")
    found = await resolve(fake, rest_client, channel_id)
    assert isinstance(found, discord.TextChannel) and found.id == channel_id


async def test_no_such_channel(fake: FakeDiscord, rest_client: Login) -> None:
    problem = await resolve(fake, rest_client, 123456789012345678)
    assert problem == (
        "ALERT_CHANNEL_ID=123456789012345678: no such channel "
        "(copy the id again: right-click the channel → Copy ID)"
    )


async def test_a_category(fake: FakeDiscord, rest_client: Login) -> None:
    category = fake.add_category("ops")
    problem = await resolve(fake, rest_client, category)
    assert problem == f"ALERT_CHANNEL_ID={category} is a category (ops), not a text channel"


async def test_a_voice_channel(
    fake: FakeDiscord, rest_client: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    voice = fake.add_channel("standup", type=2)
    plain = fake.model.channel_payload

    def with_voice_fields(channel_id: int, **kw: Any) -> dict[str, Any]:
        data = plain(channel_id, **kw)
        if data["type"] == 2:  # what Discord sends for a voice channel (the fake leaves it out)
            data |= {"bitrate": 64000, "user_limit": 0, "rtc_region": None}
        return data

    monkeypatch.setattr(fake.model, "channel_payload", with_voice_fields)
    problem = await resolve(fake, rest_client, voice)
    assert problem == f"ALERT_CHANNEL_ID={voice} is a voice channel (standup), not a text channel"


async def test_a_channel_of_another_guild(
    fake: FakeDiscord, rest_client: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = fake.add_channel("their-alerts")
    payload = fake.channel(elsewhere) | {"guild_id": "777777777777777777"}
    del fake.model.channels[elsewhere]  # not in our guild's channel list
    plain = fake.rest.get_channel

    async def get_channel(ctx: Any) -> web.StreamResponse:
        if ctx.snowflake("channel_id") == elsewhere:
            return json_response(payload)
        return await plain(ctx)

    monkeypatch.setattr(fake.rest, "get_channel", get_channel)
    problem = await resolve(fake, rest_client, elsewhere)
    assert problem == (
        f"ALERT_CHANNEL_ID={elsewhere} is in another guild (777777777777777777), not in guild "
        f"{fake.guild_id} (DISCORD_GUILD_ID)"
    )


async def test_a_channel_hidden_from_the_moderator(fake: FakeDiscord, rest_client: Login) -> None:
    hidden = Overwrite(id=fake.bot_role.id, type=ROLE_OVERWRITE, allow=0, deny=P.VIEW_CHANNEL)
    channel_id = fake.add_channel("secret", overwrites=[hidden])
    problem = await resolve(fake, rest_client, channel_id)
    assert "the moderator cannot see the channel" in problem and "View Channel" in problem
    assert problem.startswith(f"ALERT_CHANNEL_ID={channel_id} (#secret)")


async def test_a_channel_the_moderator_cannot_post_in(
    fake: FakeDiscord, rest_client: Login
) -> None:
    muted = Overwrite(id=fake.bot_role.id, type=ROLE_OVERWRITE, allow=0, deny=P.SEND_MESSAGES)
    channel_id = fake.add_channel("read-only", overwrites=[muted])
    problem = await resolve(fake, rest_client, channel_id)
    assert "cannot post there" in problem and "Send Messages" in problem


async def test_discord_refusing_the_look_up_is_said_not_raised(
    fake: FakeDiscord, rest_client: Login
) -> None:
    channel_id = fake.add_channel("alerts")
    client = await rest_client(fake)
    fake.fail_next("GET", "/guilds/{guild_id}/channels", status=403)
    problem = await resolve_alert_channel(client, fake.guild_id, channel_id)
    assert isinstance(problem, str)
    assert problem.startswith(f"ALERT_CHANNEL_ID={channel_id}: cannot check the channel: HTTP 403")
    problem = await resolve_alert_channel(client, 4242, channel_id)
    assert isinstance(problem, str) and "not a member of guild 4242" in problem
