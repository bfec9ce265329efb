"""The fake's gateway, driven by a real discord.Client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import discord
import pytest

from testkit.fakediscord import GUILD_MEMBERS, MESSAGE_CONTENT, P
from testkit.fakediscord.api import FakeDiscord
from testkit.fakediscord.fixtures import MakeFake, Overwrites, connected_client, quick_client


def _private(guild: discord.Guild, agent_id: int) -> Overwrites:
    assert guild.me is not None
    return {
        guild.default_role: discord.PermissionOverwrite(view_channel=False),
        discord.Object(agent_id): discord.PermissionOverwrite(
            view_channel=True, send_messages=True
        ),
        guild.me: discord.PermissionOverwrite(
            view_channel=True, send_messages=True, manage_channels=True
        ),
    }


@asynccontextmanager
async def _alices_channel(
    fake: FakeDiscord,
) -> AsyncIterator[tuple[discord.Client, discord.Guild, discord.TextChannel]]:
    """A connected client and the private channel it made for alice."""
    async with connected_client(fake) as client:
        guild = client.get_guild(fake.guild_id)
        assert guild is not None
        overwrites = _private(guild, fake.agents["alice"].id)
        channel = await guild.create_text_channel("alice-1", overwrites=overwrites)
        yield client, guild, channel


class Inbox:
    """Collects on_message calls so tests can wait for them without sleeping."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        self.messages: list[discord.Message] = []
        client.event(self.on_message)

    async def on_message(self, message: discord.Message) -> None:
        self.messages.append(message)

    def by(self, user_id: int) -> list[discord.Message]:
        return [m for m in self.messages if m.author.id == user_id]


async def test_connect_gives_ready_and_a_guild_with_only_the_bots_member(
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    general = fake.add_channel("general")
    readies: list[bool] = []
    client = quick_client()

    @client.event
    async def on_ready() -> None:
        readies.append(True)

    async with connected_client(fake, client):
        guild = client.get_guild(fake.guild_id)
        assert guild is not None and readies == [True]
        assert [m.id for m in guild.members] == [fake.bot_user.id]
        assert guild.me is not None and guild.me.guild_permissions.manage_channels
        assert not guild.me.guild_permissions.manage_roles
        assert guild.member_count == len(fake.model.members)
        assert guild.get_channel(general) is not None
        assert guild.get_member(fake.agents["alice"].id) is None  # must be fetched
        (conn,) = fake.gateway_connections
        assert (conn.path, conn.op) == ("/gateway", "identify")
        assert conn.query["v"] == "10" and conn.query["compress"] == "zlib-stream"
        ready = fake.dispatched_events("READY")[0].data
        assert ready["resume_gateway_url"] == fake.resume_ws_url
        assert ready["application"]["id"] == str(fake.application_id)
    await fake.wait_for(lambda: not fake.gateway.live_sessions(), what="the client to leave")


async def test_rest_changes_are_mirrored_as_gateway_events(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    alice = fake.agents["alice"]
    async with _alices_channel(fake) as (client, guild, channel):
        assert fake.viewers(channel.id) == {alice.id, fake.bot_user.id}
        await fake.wait_for(lambda: guild.get_channel(channel.id), what="CHANNEL_CREATE in cache")
        inbox = Inbox(client)
        sent = await channel.send(f"{alice.mention} wake up")
        await fake.wait_for(lambda: inbox.by(fake.bot_user.id), what="own MESSAGE_CREATE")
        assert inbox.messages[0].id == sent.id
        await channel.delete()
        await fake.wait_for(lambda: guild.get_channel(channel.id) is None, what="CHANNEL_DELETE")
    assert [e.type for e in fake.gateway.dispatched][:2] == ["READY", "GUILD_CREATE"]
    assert len(fake.dispatched_events("CHANNEL_CREATE")) == 1


async def test_injected_message_reaches_on_message(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    alice = fake.agents["alice"]
    async with _alices_channel(fake) as (client, _, channel):
        inbox = Inbox(client)
        injected = await fake.inject_message(channel.id, alice, "**DONE**: shipped")
        (got,) = await fake.wait_for(lambda: inbox.by(alice.id), what="agent message")
        assert got.id == int(injected["id"]) and got.content == "**DONE**: shipped"
        assert got.author.bot and got.channel.id == channel.id
        assert [m["content"] for m in fake.messages_in(channel.id)] == ["**DONE**: shipped"]
        # Discord would not let bob post in alice's private channel.
        with pytest.raises(PermissionError):
            await fake.inject_message(channel.id, fake.agents["bob"], "DONE")


async def _seen_from_alice(
    fake: FakeDiscord, client: discord.Client, posts: list[tuple[int, str]], arrive: int
) -> list[str]:
    """alice posts each (channel id, text) in turn; the contents of her messages that
    reached the client's on_message, once `arrive` of them did."""
    alice = fake.agents["alice"]
    inbox = Inbox(client)
    async with connected_client(fake, client):
        for channel_id, text in posts:
            await fake.inject_message(channel_id, alice, text)
        await fake.wait_for(lambda: len(inbox.by(alice.id)) >= arrive, what="alice's messages")
    return [m.content for m in inbox.by(alice.id)]


async def test_content_is_hidden_without_the_message_content_intent(
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    general = fake.add_channel("general")
    named = f"{fake.bot_user.mention} DONE: you are named"
    posts = [(general, "DONE: hidden from you"), (general, named)]
    client = quick_client(message_content=False)
    assert await _seen_from_alice(fake, client, posts, arrive=2) == ["", named]


async def test_a_privileged_intent_not_enabled_in_the_portal_closes_with_4014(
    make_fake_discord: MakeFake,
) -> None:
    fake: FakeDiscord = await make_fake_discord(privileged_intents=0)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with connected_client(fake):
            pass
    assert fake.gateway_connections[0].close_code == 4014


async def test_no_message_create_from_channels_the_bot_cannot_see(
    fake_discord: FakeDiscord,
) -> None:
    from testkit.fakediscord import Overwrite

    fake = fake_discord
    hidden = fake.add_channel(
        "hidden", overwrites=[Overwrite(fake.bot_user.id, 1, 0, int(P.VIEW_CHANNEL))]
    )
    general = fake.add_channel("general")
    posts = [(hidden, "secret"), (general, "public")]
    assert await _seen_from_alice(fake, quick_client(), posts, arrive=1) == ["public"]


async def test_drop_and_resume_keeps_a_message_sent_during_the_outage(
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    alice = fake.agents["alice"]
    general = fake.add_channel("general")
    client = quick_client()
    inbox = Inbox(client)
    resumed: list[bool] = []

    @client.event
    async def on_resumed() -> None:
        resumed.append(True)

    async with connected_client(fake, client):
        session_id = fake.gateway_connections[0].session_id
        assert fake.drop_connections(hold=True) == 1
        sent = await fake.inject_message(general, alice, "DONE: while you were away")
        await fake.wait_for(lambda: len(fake.gateway_connections) == 2, what="the reconnect")
        assert inbox.messages == []
        fake.release_gateway()
        await fake.wait_for(lambda: inbox.by(alice.id) and resumed, what="replay after RESUME")
        assert inbox.by(alice.id)[0].id == int(sent["id"])
        second = fake.gateway_connections[1]
        assert (second.path, second.op, second.session_id) == (
            "/resume-gateway",
            "resume",
            session_id,
        )
        assert len(fake.dispatched_events("READY")) == 1  # resumed, not re-identified


async def test_heartbeats_are_acknowledged(make_fake_discord: MakeFake) -> None:
    fake: FakeDiscord = await make_fake_discord(heartbeat_interval_ms=100)
    async with connected_client(fake) as client:
        # discord.py measures latency from our HEARTBEAT_ACKs; a finite value means they came.
        await fake.wait_for(lambda: client.latency != float("inf") and client.latency >= 0)
        await asyncio.sleep(0)
        assert client.is_ready() and not client.is_closed()


async def test_with_the_members_intent_discord_py_chunks_the_guild(
    make_fake_discord: MakeFake,
) -> None:
    fake = await make_fake_discord(privileged_intents=MESSAGE_CONTENT | GUILD_MEMBERS)
    client = quick_client(members=True)
    async with connected_client(fake, client):
        guild = client.get_guild(fake.guild_id)
        assert guild is not None
        await fake.wait_for(lambda: guild.chunked, what="GUILD_MEMBERS_CHUNK")
        assert {m.id for m in guild.members} == set(fake.model.members)
        assert fake.dispatched_events("GUILD_MEMBERS_CHUNK")
