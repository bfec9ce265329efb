"""Can the moderator post in `ALERT_CHANNEL_ID`? One check for the bot's start and `check-config`.

An alert channel that does not work is found out only when something goes
wrong, which is exactly when the alerts are needed: so the channel is looked
at up front, and every way it can be wrong is named (no such channel, another
guild, not a text channel, hidden from the moderator, no Send Messages).
Works from the gateway cache in the running bot and over REST alone in
`check-config`.
"""

from __future__ import annotations

import discord

from bot.discord_io.errors import DISCORD_FAILURES, describe_failure
from bot.discord_io.guild_check import guild_and_me

SETTING = "ALERT_CHANNEL_ID"

_KINDS: dict[type[discord.abc.GuildChannel], str] = {
    discord.CategoryChannel: "a category",
    discord.VoiceChannel: "a voice channel",
    discord.StageChannel: "a stage channel",
    discord.ForumChannel: "a forum",
}


def _kind(channel: object) -> str:
    for cls, name in _KINDS.items():
        if isinstance(channel, cls):
            return name
    return f"a {type(channel).__name__}"


async def resolve_alert_channel(
    client: discord.Client, guild_id: int, channel_id: int
) -> discord.TextChannel | str:
    """The alert channel, ready to post in; or a sentence naming `ALERT_CHANNEL_ID` and what
    is wrong with it. Never raises for Discord trouble."""
    where = f"{SETTING}={channel_id}"
    found = await guild_and_me(client, guild_id)
    if isinstance(found, str):
        return f"{where}: cannot check the channel: {found}"
    guild, me = found
    try:
        channel = guild.get_channel(channel_id)
        if channel is None:
            channel = next((c for c in await guild.fetch_channels() if c.id == channel_id), None)
        if channel is None:
            return await _outside(client, guild_id, channel_id)
    except DISCORD_FAILURES as exc:
        return f"{where}: cannot check the channel: {describe_failure(exc)}"
    if not isinstance(channel, discord.TextChannel):
        return f"{where} is {_kind(channel)} ({channel.name}), not a text channel"
    perms = channel.permissions_for(me)
    if not perms.view_channel:
        return (
            f"{where} (#{channel.name}): the moderator cannot see the channel "
            "(grant its role View Channel there)"
        )
    if not perms.send_messages:
        return (
            f"{where} (#{channel.name}): the moderator cannot post there "
            "(grant its role Send Messages there)"
        )
    return channel


async def _outside(client: discord.Client, guild_id: int, channel_id: int) -> str:
    """Not a channel of our guild: tell a typo from a channel elsewhere."""
    where = f"{SETTING}={channel_id}"
    try:
        other = await client.fetch_channel(channel_id)
    except discord.NotFound:
        return f"{where}: no such channel (copy the id again: right-click the channel → Copy ID)"
    except discord.Forbidden:
        return (
            f"{where}: not a channel of guild {guild_id} (DISCORD_GUILD_ID) that the moderator "
            "can see; it may belong to another guild"
        )
    except DISCORD_FAILURES as exc:
        return f"{where}: cannot check the channel: {describe_failure(exc)}"
    other_guild = getattr(other, "guild", None)
    if other_guild is None:
        return f"{where} is not a guild channel"
    return (
        f"{where} is in another guild ({other_guild.id}), not in guild {guild_id} "
        "(DISCORD_GUILD_ID)"
    )
