"""What tests do as Discord's users: post a message, run a slash command, press a button.

Each injection is refused the way Discord's client would refuse it (a member
who cannot post in a channel cannot inject a message there; options are checked
against the registered command) and arrives at the bot over the gateway.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import Any

from testkit.fakediscord.guild_rules import GuildRules
from testkit.fakediscord.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    InteractionHandle,
    InteractionService,
)
from testkit.fakediscord.messages import build_message
from testkit.fakediscord.model import (
    GUILD_TEXT_LIKE,
    FakeUser,
)
from testkit.fakediscord.perms import (
    P,
)
from testkit.fakediscord.world import GuildWorld


class Injection(GuildWorld):
    """Mixed into `FakeDiscord` (its state is set up by `FakeDiscord.__init__`)."""

    interaction_service: InteractionService
    rules: GuildRules

    # -- injection -------------------------------------------------------------------
    async def inject_message(
        self,
        channel_id: int,
        author: FakeUser | int,
        content: str,
        *,
        embeds: list[dict[str, Any]] | None = None,
        reply_to: int | None = None,
        check_permissions: bool = True,
    ) -> dict[str, Any]:
        """Post a message as `author` (e.g. an agent replying), dispatching MESSAGE_CREATE.

        Refuses (PermissionError) what Discord would refuse: a user who cannot
        view and send in the channel cannot post there.
        """
        uid = author.id if isinstance(author, FakeUser) else int(author)
        if uid not in self.model.members:
            raise ValueError(f"user {uid} is not a member of the fake guild")
        channel = self.model.channels.get(channel_id)
        if channel is None or channel.type not in GUILD_TEXT_LIKE:
            raise ValueError(f"{channel_id} is not a text channel of the fake guild")
        perms = self.model.permissions_in(channel_id, uid)
        if check_permissions and (perms & (P.VIEW_CHANNEL | P.SEND_MESSAGES)) != (
            P.VIEW_CHANNEL | P.SEND_MESSAGES
        ):
            raise PermissionError(
                f"{self.model.users[uid].name} cannot view and send in channel {channel_id}"
            )
        body: dict[str, Any] = {"content": content, "embeds": embeds or []}
        if reply_to is not None:
            body["message_reference"] = {"message_id": reply_to}
        msg = build_message(
            self.model,
            channel_id=channel_id,
            author=self.model.users[uid],
            body=body,
            msg_type=19 if reply_to is not None else 0,
        )
        self._store_message(msg)
        self._dispatch_message("MESSAGE_CREATE", msg)
        await asyncio.sleep(0)
        return copy.deepcopy(msg)

    async def inject_interaction(
        self,
        user: FakeUser | int,
        channel_id: int,
        command: str | None = None,
        options: Mapping[str, Any] | None = None,
        *,
        type: int = APPLICATION_COMMAND,
        focused: str | None = None,
        custom_id: str | None = None,
        component_type: int = 2,
        values: list[str] | None = None,
        message_id: int | None = None,
        check_permissions: bool = True,
        deadline: float | None = None,
    ) -> InteractionHandle:
        """Dispatch INTERACTION_CREATE from a member; returns a handle to await the answer.

        `command` is the registered name, with sub-commands after a space
        ("group sub"; the moderator's `/slot` has none: "slot" with an `action`).
        Options are given by name and checked against the registered command
        (unknown names, missing required options and values outside `choices`
        raise: Discord's client would not send them).
        `deadline` overrides the fake's `rules.interaction_deadline` for this one.
        """
        handle = self.interaction_service.inject(
            user=user,
            channel_id=channel_id,
            kind=type,
            command=command,
            options=options,
            focused=focused,
            custom_id=custom_id,
            component_type=component_type,
            values=values,
            message_id=message_id,
            check_permissions=check_permissions,
            deadline=self.rules.interaction_deadline if deadline is None else deadline,
        )
        await asyncio.sleep(0)
        return handle

    async def inject_command(
        self,
        user: FakeUser | int,
        channel_id: int,
        command: str,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> InteractionHandle:
        return await self.inject_interaction(
            user, channel_id, command, options, type=APPLICATION_COMMAND, **kwargs
        )

    async def inject_autocomplete(
        self,
        user: FakeUser | int,
        channel_id: int,
        command: str,
        options: Mapping[str, Any],
        focused: str,
        **kwargs: Any,
    ) -> InteractionHandle:
        return await self.inject_interaction(
            user, channel_id, command, options, type=AUTOCOMPLETE, focused=focused, **kwargs
        )

    async def inject_component(
        self,
        user: FakeUser | int,
        channel_id: int,
        message_id: int,
        custom_id: str,
        *,
        component_type: int = 2,
        values: list[str] | None = None,
        **kwargs: Any,
    ) -> InteractionHandle:
        return await self.inject_interaction(
            user,
            channel_id,
            type=MESSAGE_COMPONENT,
            message_id=message_id,
            custom_id=custom_id,
            component_type=component_type,
            values=values,
            **kwargs,
        )

    def drop_connections(self, *, hold: bool = False) -> int:
        """Cut every gateway connection like a network outage (clients should RESUME).

        With `hold=True` new connections wait (after the websocket handshake)
        until `release_gateway()`, so a test can act while the client is away.
        """
        return self.gateway.drop_connections(hold=hold)

    def release_gateway(self) -> None:
        self.gateway.release()
