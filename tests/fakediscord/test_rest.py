"""The fake's REST side, driven through discord.py's real HTTP client."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord
import pytest
from discord.http import MultipartParameters, Route, handle_message_parameters

from testkit.fakediscord import DEFAULT_BOT_PERMISSIONS, GUILD_MEMBERS, Overwrite, P
from testkit.fakediscord.api import FakeDiscord
from testkit.fakediscord.fixtures import (
    MakeFake,
    Overwrites,
    moderator_intents,
    rest_client,
    running_fake,
)

CHANNELS = "/guilds/{guild_id}/channels"
MESSAGES = "/channels/{channel_id}/messages"


@pytest.fixture
async def client(fake_discord: FakeDiscord) -> AsyncIterator[discord.Client]:
    """Logged in over REST only (no gateway), like a one-shot CLI command."""
    async with rest_client(fake_discord) as bot:
        yield bot


GuildMe = tuple[discord.Guild, discord.Member]


async def _guild(client: discord.Client, fake: FakeDiscord) -> GuildMe:
    guild = await client.fetch_guild(fake.guild_id)
    me = await guild.fetch_member(fake.bot_user.id)
    return guild, me


@pytest.fixture
async def guild_me(client: discord.Client, fake_discord: FakeDiscord) -> GuildMe:
    """The fake's guild and the bot's member in it, fetched over REST by `client`."""
    return await _guild(client, fake_discord)


def _private_overwrites(
    guild: discord.Guild, me: discord.Member, agent_id: int, admin_role_id: int | None = None
) -> Overwrites:
    ow: Overwrites = {
        guild.default_role: discord.PermissionOverwrite(view_channel=False),
        discord.Object(agent_id): discord.PermissionOverwrite(
            view_channel=True, send_messages=True, read_message_history=True
        ),
        me: discord.PermissionOverwrite(
            view_channel=True, send_messages=True, manage_channels=True
        ),
    }
    if admin_role_id is not None:
        role = guild.get_role(admin_role_id)
        assert role is not None
        ow[role] = discord.PermissionOverwrite(view_channel=True, send_messages=True)
    return ow


async def test_login_records_requests_without_the_token(
    fake_discord: FakeDiscord, client: discord.Client
) -> None:
    assert client.user is not None and client.user.id == fake_discord.bot_user.id
    assert client.application_id == fake_discord.application_id
    routes = [(r.method, r.route, r.status) for r in fake_discord.requests]
    assert routes[:2] == [("GET", "/users/@me", 200), ("GET", "/oauth2/applications/@me", 200)]
    for rec in fake_discord.requests:
        assert all(k.lower() != "authorization" for k in rec.headers)
        assert fake_discord.token not in json.dumps(rec.headers)
    assert fake_discord.requests[0].t <= fake_discord.requests[1].t


async def test_answers_are_exactly_application_json_and_need_a_bot_token(
    fake_discord: FakeDiscord,
) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{fake_discord.api_base}/users/@me"
        async with session.get(url, headers={"Authorization": f"Bot {fake_discord.token}"}) as r:
            assert r.status == 200
            assert r.headers["Content-Type"] == "application/json"
        async with session.get(url, headers={"Authorization": f"Bearer {fake_discord.token}"}) as r:
            assert r.status == 401
            assert (await r.json())["code"] == 0
    bad = discord.Client(intents=moderator_intents())
    with pytest.raises(discord.LoginFailure):
        await bad.login("not-the-token")
    await bad.close()


async def test_private_channel_is_seen_by_agent_moderator_and_admin_role_only(
    fake_discord: FakeDiscord, guild_me: GuildMe
) -> None:
    fake = fake_discord
    alice = fake.agents["alice"]
    guild, me = guild_me
    channel = await guild.create_text_channel(
        "Alice 0123abcd",
        topic="slot 0123abcd-full-id",
        overwrites=_private_overwrites(guild, me, alice.id, fake.admin_role.id),
    )
    assert channel.name == "alice-0123abcd"  # Discord lowercases and dashes text names
    assert fake.viewers(channel.id) == {alice.id, fake.bot_user.id, fake.admin.id}
    assert fake.role_can_view(channel.id, fake.admin_role.id)
    assert not fake.role_can_view(channel.id, fake.everyone_role.id)
    assert not fake.can_view(channel.id, fake.agents["bob"].id)
    assert fake.can_view(channel.id, fake.owner.id)  # the owner sees everything
    assert fake.overwrite_notes == []
    (req,) = fake.requests_for("POST", CHANNELS)
    assert req.status == 201
    assert {ow["type"] for ow in req.json["permission_overwrites"]} == {0, 1}


async def test_discord_object_for_everyone_leaves_the_channel_public(
    fake_discord: FakeDiscord, guild_me: GuildMe
) -> None:
    fake = fake_discord
    guild, me = guild_me
    overwrites = _private_overwrites(guild, me, fake.agents["alice"].id)
    del overwrites[guild.default_role]
    overwrites[discord.Object(guild.id)] = discord.PermissionOverwrite(view_channel=False)
    channel = await guild.create_text_channel("alice-oops", overwrites=overwrites)
    # Discord accepts it: a *member* overwrite for an id that is no member.
    assert fake.can_view(channel.id, fake.member.id)
    assert fake.can_view(channel.id, fake.agents["bob"].id)
    assert any("@everyone" in n.note for n in fake.overwrite_notes)


@pytest.mark.parametrize(
    ("grantee", "grant", "missing"),
    [
        ("bot", {"manage_permissions": True}, "ADMINISTRATOR"),
        ("alice", {"attach_files": True}, "ATTACH_FILES"),
    ],
    ids=["manage_permissions", "a_permission_the_bot_lacks"],
)
async def test_an_overwrite_granting_beyond_the_bots_rights_is_refused(
    fake_discord: FakeDiscord,
    guild_me: GuildMe,
    grantee: str,
    grant: dict[str, bool],
    missing: str,
) -> None:
    fake = fake_discord
    guild, me = guild_me
    alice_id = fake.agents["alice"].id
    overwrites = _private_overwrites(guild, me, alice_id)
    target = me if grantee == "bot" else discord.Object(alice_id)
    overwrites[target] = discord.PermissionOverwrite(view_channel=True, **grant)
    with pytest.raises(discord.Forbidden) as info:
        await guild.create_text_channel("alice-x", overwrites=overwrites)
    assert info.value.code == 50013
    assert fake.channels == {}
    assert fake.denials[-1].missing == [missing]


async def test_an_administrator_bot_may_grant_manage_permissions(
    make_fake_discord: MakeFake,
) -> None:
    fake: FakeDiscord = await make_fake_discord(bot_permissions=P.ADMINISTRATOR)
    async with rest_client(fake) as bot:
        guild, me = await _guild(bot, fake)
        ow: Overwrites = {me: discord.PermissionOverwrite(manage_permissions=True)}
        channel = await guild.create_text_channel("ops", overwrites=ow)
        assert fake.can_view(channel.id, fake.bot_user.id)


async def test_creating_a_channel_needs_manage_channels(make_fake_discord: MakeFake) -> None:
    fake: FakeDiscord = await make_fake_discord(bot_permissions=P.VIEW_CHANNEL)
    async with rest_client(fake) as bot:
        guild = await bot.fetch_guild(fake.guild_id)
        with pytest.raises(discord.Forbidden) as info:
            await guild.create_text_channel("nope")
        assert info.value.code == 50013
        assert fake.denials[-1].missing == ["MANAGE_CHANNELS"]


async def test_429_with_via_is_retried_by_discord_py_and_makes_one_channel(
    fake_discord: FakeDiscord, guild_me: GuildMe
) -> None:
    fake = fake_discord
    guild, me = guild_me
    fake.fail_next("POST", CHANNELS, 429, retry_after=0.05)
    channel = await guild.create_text_channel(
        "alice-1", overwrites=_private_overwrites(guild, me, fake.agents["alice"].id)
    )
    assert [r.status for r in fake.requests_for("POST", CHANNELS)] == [429, 201]
    assert list(fake.channels) == [channel.id]


async def test_429_body_and_headers_look_like_discords(fake_discord: FakeDiscord) -> None:
    fake_discord.fail_next("GET", "/users/@me", 429, retry_after=2.5)
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {fake_discord.token}"}
        async with session.get(f"{fake_discord.api_base}/users/@me", headers=headers) as r:
            assert r.status == 429
            assert r.headers["Via"]
            assert r.headers["Retry-After"] == "3"
            assert r.headers["Content-Type"] == "application/json"
            body = await r.json()
    assert body["retry_after"] == 2.5 and body["global"] is False


async def test_injected_403_500_and_30013(
    fake_discord: FakeDiscord, client: discord.Client
) -> None:
    fake = fake_discord
    guild = await client.fetch_guild(fake.guild_id)
    fake.fail_next("POST", CHANNELS, 403)
    with pytest.raises(discord.Forbidden) as forbidden:
        await guild.create_text_channel("a")
    assert forbidden.value.code == 50013
    fake.fail_next("POST", CHANNELS, 400)
    with pytest.raises(discord.HTTPException) as capped:
        await guild.create_text_channel("b")
    assert (capped.value.status, capped.value.code) == (400, 30013)
    fake.fail_next("POST", CHANNELS, 500)  # discord.py retries a 500 once after ~1 s
    channel = await guild.create_text_channel("c")
    assert [r.status for r in fake.requests_for("POST", CHANNELS)] == [403, 400, 500, 201]
    assert list(fake.channels) == [channel.id]


async def test_posting_needs_view_and_send(
    fake_discord: FakeDiscord, client: discord.Client
) -> None:
    fake = fake_discord
    hidden = fake.add_channel(
        "hidden",
        overwrites=[_ow(fake.guild_id, 0, deny=P.VIEW_CHANNEL)],
    )
    read_only = fake.add_channel(
        "read-only",
        overwrites=[_ow(fake.guild_id, 0, deny=P.SEND_MESSAGES)],
    )
    with pytest.raises(discord.Forbidden) as no_view:
        await client.http.send_message(hidden, params=_params("hello"))
    assert no_view.value.code == 50001
    with pytest.raises(discord.Forbidden) as no_send:
        await client.http.send_message(read_only, params=_params("hello"))
    assert no_send.value.code == 50013
    assert fake.messages_in(hidden) == [] and fake.messages_in(read_only) == []


async def test_message_mentions_follow_allowed_mentions(
    fake_discord: FakeDiscord, client: discord.Client
) -> None:
    fake = fake_discord
    alice, bob = fake.agents["alice"], fake.agents["bob"]
    channel = await client.fetch_channel(fake.add_channel("general"))
    assert isinstance(channel, discord.TextChannel)
    only_alice = discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(alice.id)]
    )
    msg = await channel.send(
        f"{alice.mention} {bob.mention} @everyone", allowed_mentions=only_alice
    )
    assert [u.id for u in msg.mentions] == [alice.id]
    assert not msg.mention_everyone
    (req,) = fake.requests_for("POST", MESSAGES)
    assert req.json["allowed_mentions"]["users"] == [alice.id]
    with pytest.raises(discord.HTTPException) as empty:
        await client.http.send_message(channel.id, params=_params(""))
    assert empty.value.code == 50006


async def test_category_holds_fifty_channels(
    fake_discord: FakeDiscord, client: discord.Client
) -> None:
    fake = fake_discord
    category_id = fake.add_category("agent-wakeups")
    for i in range(50):
        fake.add_channel(f"old-{i}", parent_id=category_id)
    guild = await client.fetch_guild(fake.guild_id)
    category = await client.fetch_channel(category_id)
    assert isinstance(category, discord.CategoryChannel)
    with pytest.raises(discord.HTTPException) as info:
        await guild.create_text_channel("one-more", category=category)
    assert (info.value.status, info.value.code) == (400, 50035)
    assert "Maximum number of channels in category reached (50)" in info.value.text
    assert fake.violations == []  # Discord's own answer, not a malformed request


async def test_guild_holds_five_hundred_channels(
    fake_discord: FakeDiscord, client: discord.Client
) -> None:
    for i in range(500):
        fake_discord.add_channel(f"c-{i}")
    guild = await client.fetch_guild(fake_discord.guild_id)
    with pytest.raises(discord.HTTPException) as info:
        await guild.create_text_channel("one-more")
    assert (info.value.status, info.value.code) == (400, 30013)


async def test_unknown_channel_and_message(
    fake_discord: FakeDiscord, client: discord.Client
) -> None:
    with pytest.raises(discord.NotFound) as channel:
        await client.fetch_channel(1234567890123)
    assert channel.value.code == 10003
    real = await client.fetch_channel(fake_discord.add_channel("general"))
    assert isinstance(real, discord.TextChannel)
    with pytest.raises(discord.NotFound) as message:
        await real.fetch_message(42)
    assert message.value.code == 10008


async def test_channel_edit_and_delete(fake_discord: FakeDiscord, guild_me: GuildMe) -> None:
    fake = fake_discord
    guild, me = guild_me
    channel = await guild.create_text_channel(
        "alice-1", overwrites=_private_overwrites(guild, me, fake.agents["alice"].id)
    )
    edited = await channel.edit(topic="slot finished")
    assert edited is not None and edited.topic == "slot finished"
    # Changing overwrites later needs Manage Roles, which the moderator lacks.
    with pytest.raises(discord.Forbidden):
        await channel.edit(overwrites={guild.default_role: discord.PermissionOverwrite()})
    await channel.send("bye")
    await channel.delete()
    assert fake.channels == {}
    assert fake.messages_in(channel.id) == []


async def test_members_roles_and_member_list_intent(make_fake_discord: MakeFake) -> None:
    fake: FakeDiscord = await make_fake_discord()
    async with rest_client(fake) as bot:
        guild = await bot.fetch_guild(fake.guild_id)
        alice = await guild.fetch_member(fake.agents["alice"].id)
        assert alice.bot and alice.name == "alice"
        admin = await guild.fetch_member(fake.admin.id)
        assert fake.admin_role.id in [r.id for r in admin.roles]
        with pytest.raises(discord.NotFound) as missing:
            await guild.fetch_member(999)
        assert missing.value.code == 10007
        roles = await guild.fetch_roles()
        assert {r.id for r in roles} >= {fake.admin_role.id, fake.bot_role.id, fake.guild_id}
        # Listing members needs the privileged GUILD_MEMBERS intent, off by default.
        with pytest.raises(discord.Forbidden) as listing:
            await bot.http.get_members(fake.guild_id, 1000, None)
        assert listing.value.code == 50001
    fake.rules.privileged_intents |= GUILD_MEMBERS
    async with rest_client(fake) as bot:
        first = await bot.http.get_members(fake.guild_id, 2, None)
        rest = await bot.http.get_members(fake.guild_id, 1000, int(first[-1]["user"]["id"]))
        assert len(first) == 2 and len(first) + len(rest) == len(fake.model.members)


async def test_reactions_need_real_emoji(fake_discord: FakeDiscord, client: discord.Client) -> None:
    channel = await client.fetch_channel(fake_discord.add_channel("general"))
    assert isinstance(channel, discord.TextChannel)
    msg = await channel.send("hi")
    await msg.add_reaction("✅")
    (stored,) = fake_discord.messages_in(channel.id)
    assert stored["reactions"][0]["emoji"]["name"] == "✅"
    with pytest.raises(discord.HTTPException) as info:
        await msg.add_reaction(":white_check_mark:")
    assert info.value.code == 10014


async def test_rest_hides_content_without_the_portal_intent(make_fake_discord: MakeFake) -> None:
    fake: FakeDiscord = await make_fake_discord(privileged_intents=0)
    channel_id = fake.add_channel("general")
    await fake.inject_message(channel_id, fake.agents["alice"], "DONE: secret")
    await fake.inject_message(channel_id, fake.agents["alice"], f"{fake.bot_user.mention} done")
    async with rest_client(fake) as bot:
        channel = await bot.fetch_channel(channel_id)
        assert isinstance(channel, discord.TextChannel)
        contents = [m.content async for m in channel.history(limit=10)]
        assert contents == [f"{fake.bot_user.mention} done", ""]


async def test_a_malformed_body_is_a_violation(
    fake_discord: FakeDiscord, client: discord.Client
) -> None:
    fake = fake_discord
    channel_id = fake.add_channel("general")
    route = Route("POST", MESSAGES, channel_id=channel_id)
    with pytest.raises(discord.HTTPException) as info:
        await client.http.request(route, json={"content": "hi", "allowed_mention": {"parse": []}})
    assert (info.value.status, info.value.code) == (400, 50035)
    assert "allowed_mention" in str(fake.violations[0])
    assert fake.messages_in(channel_id) == []
    fake.violations.clear()  # seen; the fixture would otherwise fail this test


async def test_violations_fail_the_fixture_at_exit() -> None:
    with pytest.raises(AssertionError, match="violation"):
        async with running_fake(spec_path=False) as fake, aiohttp.ClientSession() as session:
            await session.post(
                f"{fake.api_base}/channels/{fake.add_channel('x')}/messages",
                data=b'{"content": "hi"}',
                headers={"Authorization": f"Bot {fake.token}", "Content-Type": "text/plain"},
            )


async def test_unmodelled_routes_are_violations(fake_discord: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {fake_discord.token}"}
        async with session.get(f"{fake_discord.api_base}/guilds/1/bans", headers=headers) as r:
            assert r.status == 404
    assert "not modelled" in str(fake_discord.violations[0])
    fake_discord.violations.clear()


async def test_the_spec_is_a_second_check(tmp_path: Path, fake_discord: FakeDiscord) -> None:
    # With ../shared present the real spec is loaded; a clone without it skips only that layer.
    from testkit.fakediscord.schemacheck import default_spec_path

    assert (fake_discord.spec is not None) == (default_spec_path() is not None)
    spec = {
        "openapi": "3.1.0",
        "paths": {
            "/channels/{channel_id}/messages": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Msg"}},
                        }
                    }
                }
            }
        },
        "components": {
            "schemas": {
                "SnowflakeType": {"type": "string"},
                "Msg": {"type": "object", "required": ["nonce"]},
            }
        },
    }
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(AssertionError, match="openapi POST"):
        async with running_fake(spec_path=path) as fake, rest_client(fake) as bot:
            with pytest.raises(discord.HTTPException):
                await bot.http.send_message(fake.add_channel("x"), params=_params("hi"))


def _ow(target: int, kind: int, *, allow: int = 0, deny: int = 0) -> Overwrite:
    return Overwrite(id=target, type=kind, allow=int(allow), deny=int(deny))


def _params(content: str) -> MultipartParameters:
    return handle_message_parameters(content=content)


async def test_rich_messages_files_edits_and_replies_pass_both_schemas(
    make_fake_discord: MakeFake,
) -> None:
    fake = await make_fake_discord(bot_permissions=DEFAULT_BOT_PERMISSIONS | P.ATTACH_FILES)
    async with rest_client(fake) as bot:
        channel = await bot.fetch_channel(fake.add_channel("general"))
        assert isinstance(channel, discord.TextChannel)
        embed = discord.Embed(title="Schedule", description="today", colour=0x2ECC71)
        embed.add_field(name="09:00", value="review", inline=False)
        embed.set_footer(text="calendar").set_author(name="moderator")
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="Complete", custom_id="slot:complete"))
        log = discord.File(io.BytesIO(b"line\n"), filename="wake.log")
        sent = await channel.send("wake", embed=embed, view=view, file=log)
        assert [a.filename for a in sent.attachments] == ["wake.log"]
        await sent.edit(content="woken", view=None)
        reply = await sent.reply("ack", mention_author=False)
        assert reply.reference is not None and reply.reference.message_id == sent.id
        stored = fake.messages_in(channel.id)
        assert [m["content"] for m in stored] == ["woken", "ack"]
        assert stored[0]["embeds"][0]["fields"][0]["value"] == "review"
        (create, _) = fake.requests_for("POST", MESSAGES)
        assert create.files[0]["filename"] == "wake.log"
