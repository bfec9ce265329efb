"""What tests do as Discord's users: post a message, start a thread, run a slash command,
press a button.

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
    MESSAGEABLE,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    FakeThread,
    FakeUser,
    Snowflakes,
)
from testkit.fakediscord.perms import (
    P,
)
from testkit.fakediscord.world import GuildWorld

#: The message type of Discord's "started a thread" notice in the parent channel.
THREAD_CREATED = 18


class Injection(GuildWorld):
    """Mixed into `FakeDiscord` (its state is set up by `FakeDiscord.__init__`)."""

    interaction_service: InteractionService
    rules: GuildRules
    ids: Snowflakes

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

        `channel_id` may be a thread's (`inject_thread`): the message then carries the
        thread's id as its channel_id, as Discord's does. Refuses (PermissionError)
        what Discord would refuse: a user who cannot view and send in the channel
        (in a thread: Send Messages in Threads) cannot post there.
        """
        uid = author.id if isinstance(author, FakeUser) else int(author)
        if uid not in self.model.members:
            raise ValueError(f"user {uid} is not a member of the fake guild")
        channel = self.model.channel_or_thread(channel_id)
        if channel is None or channel.type not in MESSAGEABLE:
            raise ValueError(f"{channel_id} is not a text channel or thread of the fake guild")
        needed = P.VIEW_CHANNEL | self.model.send_permission(channel_id)
        perms = self.model.permissions_in(channel_id, uid)
        if check_permissions and (perms & needed) != needed:
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

    async def inject_thread(
        self,
        parent_id: int,
        author: FakeUser | int,
        name: str,
        *,
        private: bool = False,
        members: tuple[FakeUser | int, ...] = (),
        check_permissions: bool = True,
    ) -> int:
        """`author` starts a thread in text channel `parent_id` (not from a message); its id.

        Refused (PermissionError) without View and Create Public (or Private) Threads
        in the parent, as Discord refuses it. Sessions that may see the thread get
        THREAD_CREATE (a private one: only as its member, `author` and `members`, or
        with Manage Threads). A public thread also leaves Discord's "started a thread"
        message (type 18, content the thread's name, by `author`) in the parent.
        """
        uid = author.id if isinstance(author, FakeUser) else int(author)
        parent = self.model.channels.get(parent_id)
        if uid not in self.model.members:
            raise ValueError(f"user {uid} is not a member of the fake guild")
        if parent is None or parent.type not in GUILD_TEXT_LIKE:
            raise ValueError(f"{parent_id} is not a text channel of the fake guild")
        needed = P.VIEW_CHANNEL | (P.CREATE_PRIVATE_THREADS if private else P.CREATE_PUBLIC_THREADS)
        if check_permissions and (self.model.permissions_in(parent_id, uid) & needed) != needed:
            raise PermissionError(
                f"{self.model.users[uid].name} cannot start a thread in channel {parent_id}"
            )
        thread = FakeThread(
            id=self.ids.next(),
            type=PRIVATE_THREAD if private else PUBLIC_THREAD,
            name=name,
            position=0,
            parent_id=parent_id,
            owner_id=uid,
            member_ids={uid, *(m.id if isinstance(m, FakeUser) else int(m) for m in members)},
        )
        self._add_thread(thread)
        if not private:
            notice = build_message(
                self.model,
                channel_id=parent_id,
                author=self.model.users[uid],
                body={"content": name},
                msg_type=THREAD_CREATED,
                extra={
                    "message_reference": {
                        "type": 0,
                        "channel_id": str(thread.id),
                        "guild_id": str(self.guild_id),
                    }
                },
            )
            self._store_message(notice)
            self._dispatch_message("MESSAGE_CREATE", notice)
        await asyncio.sleep(0)
        return thread.id

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
