"""Who may see a wake channel (DESIGN §5): the overwrites it and its category are made with.

@everyone sees nothing; the moderator views, sends and manages channels (not
permissions: only administrators may grant that in an overwrite); the agent
views, sends and reads the history; `ADMIN_ROLE_ID`, when set, views and sends.
"""

from __future__ import annotations

import logging

import discord

from bot.discord_io.errors import WakeError
from bot.discord_io.guild_access import GuildAccess

log = logging.getLogger(__name__)

Overwrites = dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite]


class WakeOverwrites:
    """The overwrites of one guild's wake channels; warns once about a missing admin role."""

    def __init__(self, access: GuildAccess, admin_role_id: int | None) -> None:
        self._access = access
        self._admin_role_id = admin_role_id
        self._warned_admin_role = False

    def for_channel(self, guild: discord.Guild, *, agent_user_id: int | None) -> Overwrites:
        """A wake channel's (or, without an agent, a wake category's) overwrites."""
        everyone = guild.default_role
        if everyone is None:  # a guild object without its roles: never expected
            raise WakeError(f"guild {guild.id} came without its @everyone role")
        # @everyone must be the Role itself: a discord.Object would be sent as a
        # *member* overwrite and the channel would not be private.
        overwrites: Overwrites = {
            everyone: discord.PermissionOverwrite(view_channel=False),
            discord.Object(id=self._access.me_id()): discord.PermissionOverwrite(
                view_channel=True, send_messages=True, manage_channels=True
            ),
        }
        if agent_user_id is not None:
            overwrites[discord.Object(id=agent_user_id)] = discord.PermissionOverwrite(
                view_channel=True, send_messages=True, read_message_history=True
            )
        if self._admin_role_id is not None:
            role = guild.get_role(self._admin_role_id)
            if role is not None:
                overwrites[role] = discord.PermissionOverwrite(
                    view_channel=True, send_messages=True
                )
            elif not self._warned_admin_role:
                self._warned_admin_role = True
                log.warning(
                    "ADMIN_ROLE_ID %s is not a role of guild %s; wake channels are made without it",
                    self._admin_role_id,
                    guild.id,
                )
        return overwrites
