"""A strict fake Discord (REST + gateway) for driving discord.py's real code in tests.

It serves one guild on 127.0.0.1: the moderator bot (by default holding View
Channels, Send Messages, Read Message History, Manage Channels, Embed Links,
Add Reactions - not Manage Roles, not Administrator), agent bot accounts
(`alice`, `bob`, `carol`), a human `admin` holding the `admins` role (no
special permissions of its own), a plain human `member`, and a separate guild
`owner` (who sees everything and is left out of `viewers()`).

It behaves like Discord's strictest documented rules, so bugs fail tests:
overwrites may grant only permissions the bot holds and never Manage Roles;
posting needs View + Send in the channel; 50 channels per category (400/50035)
and 500 per guild (400/30013); members are not all sent at connect; message
content is blank without the Message Content intent (unless the bot wrote or
is mentioned in the message); an interaction must be answered within 3 s.
Every JSON body is checked against schemas/*.json and, when Discord's OpenAPI
spec is on disk (DISCORD_OPENAPI_SPEC, or ../shared/discord-api-spec beside
the repo), against the spec too; a bad body gets 400/50035 and is recorded in
`fake.violations`, which the fixtures turn into a test failure at teardown.

Layout: the test-facing API is `FakeDiscord` (api.py: building and reading the
guild, waiting, queued faults; inject.py: acting as Discord's users) over the
guild's state (model.py, world.py: state changes with their gateway events);
the wire, what discord.py talks to, is wire/ (http.py the REST front,
routes.py, rest_*.py the handlers, interaction_routes.py, gateway.py).

Use from any test folder - in `tests/<area>/conftest.py`::

    from testkit.fakediscord.fixtures import fake_discord, make_fake_discord  # noqa: F401

then::

    async def test_wake(fake_discord):            # started, discord.py pointed at it
        alice = fake_discord.add_agent("alice")   # existing agents are returned as is
        ...run the code under test (it uses discord.py's real HTTP client)...
        ch = fake_discord.channels_named("alice-abc123")[0]
        assert fake_discord.viewers(int(ch["id"])) == {alice.id, fake_discord.bot_user.id, ...}
        assert fake_discord.requests_for("POST", "/channels/{channel_id}/messages")

    async def test_other_setup(make_fake_discord):
        fake = await make_fake_discord(bot_permissions=P.VIEW_CHANNEL, interaction_deadline=0.5)

A whole bot: `async with connected_client(fake, client):` (fixtures.py) starts a
`discord.Client`/`commands.Bot` against the fake and waits for READY and the
guild in cache (`moderator_intents()` gives guilds + guild messages + message
content; pass `guild_ready_timeout=0.2` to your client to skip discord.py's 2 s
wait for more guilds); `MakeFake` types the factory fixture. A bot in
a subprocess gets `fake.env()` (DISCORD_TOKEN, DISCORD_GUILD_ID,
DISCORD_API_BASE, DISCORD_GATEWAY_URL, ADMIN_ROLE_ID).

What tests use most:
    fake.bot_user / admin / member / owner / agents[name] (FakeUser: .id, .mention)
    fake.admin_role / bot_role / everyone_role (FakeRole: .id); fake.guild_id, fake.token
    fake.channels (id -> payload), channels_named(name), messages_in(channel_id), threads_in(id)
    fake.can_view(channel_id, user_id), viewers(channel_id), role_can_view(channel_id, role_id)
    fake.requests, requests_for(method, route_template), violations, denials, overwrite_notes
    fake.fail_next(method, route_template, status=429|403|500|400, count=1, code=, retry_after=)
    await fake.inject_message(channel_id, author, content) -> message dict (MESSAGE_CREATE)
    await fake.inject_thread(parent_id, author, name, private=False) -> thread id (THREAD_CREATE;
        then inject_message(thread_id, ...) posts in it, channel_id = the thread's)
    fake.remove_member(user) / join(user)   # GUILD_MEMBER_REMOVE / ADD (Server Members intent)
    await fake.inject_command(user, channel_id, "slot", {"action": "complete", "slot_id": "..."})
        -> handle (the command must be registered - sync the tree first; options by name;
        sub-commands after a space, "group sub"; deadline= overrides 3 s)
    await fake.inject_autocomplete(user, channel_id, "status", {"agent": "al"}, focused="agent")
    await fake.inject_component(user, channel_id, message_id, custom_id)
    handle.wait_response() / wait_text() / text() / ephemeral / choices / refused / followups
    fake.drop_connections(hold=False), release_gateway(), dispatched_events("MESSAGE_CREATE")
    await fake.wait_for(lambda: ..., timeout=15)   # instead of sleeps
"""

from testkit.fakediscord.api import Denial, FakeDiscord, OverwriteNote, Violation
from testkit.fakediscord.context import RecordedRequest
from testkit.fakediscord.interactions import InteractionHandle, Refusal
from testkit.fakediscord.model import FakeRole, FakeUser
from testkit.fakediscord.perms import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    MEMBER_OVERWRITE,
    ROLE_OVERWRITE,
    Overwrite,
    P,
)
from testkit.fakediscord.wire.gateway import DispatchRecord
from testkit.fakediscord.wire.intents import GUILD_MEMBERS, GUILD_MESSAGES, GUILDS, MESSAGE_CONTENT

__all__ = [
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "GUILDS",
    "GUILD_MEMBERS",
    "GUILD_MESSAGES",
    "MEMBER_OVERWRITE",
    "MESSAGE_CONTENT",
    "ROLE_OVERWRITE",
    "Denial",
    "DispatchRecord",
    "FakeDiscord",
    "FakeRole",
    "FakeUser",
    "InteractionHandle",
    "Overwrite",
    "OverwriteNote",
    "P",
    "RecordedRequest",
    "Refusal",
    "Violation",
]
