"""Interactions through the fake: a real app_commands tree answers injected commands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
from discord import app_commands

from testkit.fakediscord import InteractionHandle
from testkit.fakediscord.api import FakeDiscord
from testkit.fakediscord.fixtures import MakeFake, connected_client, quick_client


@dataclass
class App:
    """A small bot: /ping, /status [agent] (autocomplete), /slot complete, /sync, /slow."""

    fake: FakeDiscord
    client: discord.Client
    tree: app_commands.CommandTree[discord.Client]
    slow: list[InteractionHandle] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)


def build_app(fake: FakeDiscord) -> App:
    client = quick_client()
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
    app = App(fake, client, tree)
    guild = discord.Object(fake.guild_id)

    @tree.command(name="ping", description="Answer pong", guild=guild)
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong", ephemeral=True)

    @tree.command(name="edit", description="Answer, then edit the answer", guild=guild)
    async def edit(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("working…")
        original = await interaction.original_response()
        await original.edit(content="done")
        await interaction.followup.send("extra")
        await interaction.delete_original_response()

    @tree.command(name="status", description="Show an agent's status", guild=guild)
    @app_commands.describe(agent="Agent id")
    async def status(interaction: discord.Interaction, agent: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send(f"{agent or 'everyone'}: idle", ephemeral=True)

    @status.autocomplete("agent")
    async def agent_names(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=n) for n in fake.agents if n.startswith(current)]

    slot = app_commands.Group(name="slot", description="Steer a slot", guild_ids=[fake.guild_id])

    @slot.command(name="complete", description="Complete a slot")
    async def complete(interaction: discord.Interaction, slot_id: str, note: str = "") -> None:
        await interaction.response.send_message(f"completed {slot_id} {note}".strip())

    tree.add_command(slot)

    @tree.command(name="sync", description="Sync now", guild=guild)
    @app_commands.default_permissions(manage_guild=True)
    async def sync_now(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("synced", ephemeral=True)

    @tree.command(name="slow", description="Answers too late", guild=guild)
    async def slow(interaction: discord.Interaction) -> None:
        await fake.wait_for(lambda: app.slow and app.slow[0].expired, what="the deadline")
        try:
            await interaction.response.send_message("finally")
        except discord.HTTPException as exc:
            app.errors.append(exc)

    return app


@pytest.fixture
async def app(make_fake_discord: MakeFake) -> AsyncIterator[App]:
    fake: FakeDiscord = await make_fake_discord()  # Discord's 3 s to answer
    built = build_app(fake)
    async with connected_client(fake, built.client):
        synced = await built.tree.sync(guild=discord.Object(fake.guild_id))
        assert {c.name for c in synced} == {"ping", "edit", "status", "slot", "sync", "slow"}
        yield built


def _general(fake: FakeDiscord) -> int:
    found = fake.channels_named("general")
    return int(found[0]["id"]) if found else fake.add_channel("general")


async def test_commands_are_registered_per_guild(app: App) -> None:
    fake = app.fake
    (put,) = fake.requests_for("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
    assert put.status == 200
    by_name = {c["name"]: c for c in fake.guild_commands}
    assert by_name["sync"]["default_member_permissions"] == str(
        int(discord.Permissions(manage_guild=True).value)
    )
    assert by_name["status"]["options"][0]["autocomplete"] is True
    assert all(c["guild_id"] == str(fake.guild_id) for c in fake.guild_commands)


async def test_global_commands_can_be_overwritten_too(app: App) -> None:
    fake = app.fake
    await app.client.http.bulk_upsert_global_commands(
        fake.application_id, [{"name": "about", "description": "What this bot does", "type": 1}]
    )
    assert [c["name"] for c in fake.global_commands] == ["about"]
    assert "guild_id" not in fake.global_commands[0]
    data = fake.interaction_service.command_data("about", {}, None)
    assert data["id"] == fake.global_commands[0]["id"] and "guild_id" not in data
    with pytest.raises(discord.HTTPException) as bad:
        await app.client.http.bulk_upsert_global_commands(
            fake.application_id, [{"name": "About Me", "description": "x", "type": 1}]
        )
    assert bad.value.code == 50035
    fake.violations.clear()  # deliberate: upper case is not a valid slash command name


async def test_a_command_is_answered_and_recorded(app: App) -> None:
    fake = app.fake
    handle = await fake.inject_command(fake.member, _general(fake), "ping")
    response = await handle.wait_response()
    assert response["type"] == 4 and handle.ephemeral and handle.text() == "pong"
    (callback,) = fake.requests_for("POST", "/interactions/{interaction_id}/{token}/callback")
    assert "authorization" not in {k.lower() for k in callback.headers}
    assert fake.messages_in(_general(fake)) == []  # ephemeral: not in the channel


async def test_the_original_response_can_be_fetched_and_edited(app: App) -> None:
    fake = app.fake
    general = _general(fake)
    handle = await fake.inject_command(fake.member, general, "edit")
    await fake.wait_for(lambda: handle.original_deleted, what="the delete of @original")
    assert handle.edits[0]["content"] == "done"
    assert handle.text() == "extra"
    assert [m["content"] for m in fake.messages_in(general)] == ["extra"]
    webhook = "/webhooks/{application_id}/{token}/messages/@original"
    assert [r.status for r in fake.requests_for("GET", webhook)] == [200]
    assert [r.status for r in fake.requests_for("PATCH", webhook)] == [200]
    assert [r.status for r in fake.requests_for("DELETE", webhook)] == [204]
    assert [r.status for r in fake.requests_for("POST", "/webhooks/{application_id}/{token}")] == [
        200
    ]


async def test_defer_then_follow_up_fills_the_placeholder(app: App) -> None:
    fake = app.fake
    handle = await fake.inject_command(fake.admin, _general(fake), "status", {"agent": "alice"})
    assert await handle.wait_text() == "alice: idle"
    assert handle.response_type == 5 and handle.ephemeral
    assert handle.followups == []  # the first follow-up after a defer replaces "thinking…"
    assert handle.original is not None and not int(handle.original["flags"]) & (1 << 7)


async def test_autocomplete_choices(app: App) -> None:
    fake = app.fake
    handle = await fake.inject_autocomplete(
        fake.member, _general(fake), "status", {"agent": "a"}, focused="agent"
    )
    await handle.wait_response()
    assert handle.response_type == 8
    assert handle.choices == [{"name": "alice", "value": "alice"}]


async def test_sub_command_with_options_posts_in_the_channel(app: App) -> None:
    fake = app.fake
    general = _general(fake)
    handle = await fake.inject_command(
        fake.admin, general, "slot complete", {"slot_id": "s-1", "note": "by hand"}
    )
    await handle.wait_response()
    assert handle.text() == "completed s-1 by hand" and not handle.ephemeral
    (posted,) = fake.messages_in(general)
    assert posted["content"] == "completed s-1 by hand"
    assert posted["interaction_metadata"]["user"]["id"] == str(fake.admin.id)


async def test_an_answer_after_the_deadline_is_refused(app: App) -> None:
    fake = app.fake
    handle = await fake.inject_command(fake.member, _general(fake), "slow", deadline=0.3)
    app.slow.append(handle)
    await fake.wait_for(lambda: handle.refused, what="the late answer")
    assert [(r.status, r.code) for r in handle.refused] == [(404, 10062)]
    assert not handle.acknowledged
    await fake.wait_for(lambda: app.errors)
    assert isinstance(app.errors[0], discord.NotFound) and app.errors[0].code == 10062


async def test_invocations_discord_would_not_send_are_refused(app: App) -> None:
    fake = app.fake
    general = _general(fake)
    with pytest.raises(LookupError):
        await fake.inject_command(fake.member, general, "nope")
    with pytest.raises(ValueError, match="no option"):
        await fake.inject_command(fake.member, general, "status", {"agnet": "alice"})
    with pytest.raises(ValueError, match="slot_id"):
        await fake.inject_command(fake.member, general, "slot complete", {})
    with pytest.raises(PermissionError):  # /sync needs Manage Server by default
        await fake.inject_command(fake.member, general, "sync")
    handle = await fake.inject_command(fake.admin, general, "sync", check_permissions=False)
    assert (await handle.wait_response())["type"] == 4


async def test_component_interaction_updates_the_message(app: App) -> None:
    fake = app.fake
    client = app.client
    general = _general(fake)

    class Done(discord.ui.View):
        def __init__(self) -> None:
            super().__init__(timeout=None)

        @discord.ui.button(label="Complete", custom_id="slot:complete:s-1")
        async def complete(
            self, interaction: discord.Interaction, button: discord.ui.Button[Any]
        ) -> None:
            await interaction.response.edit_message(content="completed by a person", view=None)

    view = Done()
    client.add_view(view)
    channel = await fake.wait_for(lambda: client.get_channel(general), what="CHANNEL_CREATE")
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("wake up", view=view)
    handle = await fake.inject_component(fake.admin, general, sent.id, "slot:complete:s-1")
    await handle.wait_response()
    assert handle.response_type == 7
    (stored,) = fake.messages_in(general)
    assert stored["content"] == "completed by a person" and stored["components"] == []
