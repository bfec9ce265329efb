"""The fake guild's state changes, each with the gateway events Discord sends for it.

Shared by the wire (REST handlers, interaction answers) and the test-facing API
(seeding channels, injecting messages): a change is stored in the model, told to
the gateway sessions that may see it, and wakes `wait_for`. The records of what
Discord would have refused or noticed (violations, denials, overwrite notes) live here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from testkit.fakediscord.context import Ctx, RecordedRequest
from testkit.fakediscord.messages import for_app, gateway_form
from testkit.fakediscord.model import (
    FakeChannel,
    FakeThread,
    FakeUser,
    GuildModel,
)
from testkit.fakediscord.perms import (
    P,
)
from testkit.fakediscord.wire.gateway import Gateway
from testkit.fakediscord.wire.intents import (
    GUILD_MESSAGE_REACTIONS,
    GUILD_MESSAGES,
    GUILDS,
    MESSAGE_CONTENT,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Violation:
    """A request Discord documents as malformed (or a route the fake does not model)."""

    t: float
    method: str
    route: str
    path: str
    problems: list[str]
    body: Any

    def __str__(self) -> str:
        body = json.dumps(self.body, default=str)
        if len(body) > 400:
            body = body[:397] + "..."
        return f"{self.method} {self.route} ({self.path}): {'; '.join(self.problems)} body={body}"


@dataclass
class Denial:
    """A 403 the fake gave, with what was missing (Discord's message never says)."""

    t: float
    method: str
    route: str
    missing: list[str]
    where: str


@dataclass
class OverwriteNote:
    """An overwrite Discord accepted silently but that applies to no one."""

    t: float
    channel_id: int
    note: str


class GuildWorld:
    """Mixed into `FakeDiscord`: the state it holds is set up by its `__init__`."""

    model: GuildModel
    gateway: Gateway
    bot_user: FakeUser
    requests: list[RecordedRequest]
    violations: list[Violation]
    denials: list[Denial]
    overwrite_notes: list[OverwriteNote]
    _waiters: list[asyncio.Future[None]]

    @property
    def guild_id(self) -> int:
        return self.model.id

    def can_view(self, channel_id: int, user_id: int) -> bool:
        return bool(self.model.permissions_in(channel_id, user_id) & P.VIEW_CHANNEL)

    # -- waiting -------------------------------------------------------------------
    def _changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 15.0,  # noqa: ASYNC109
        *,
        what: str | None = None,
    ) -> T:
        """Wait until `predicate()` is truthy and return its value.

        Re-checked whenever the fake records something, and at least every 50 ms
        (so predicates over the client's own state work too). Times out with
        the recent requests in the message, which is usually the clue.
        """
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                recent = "\n  ".join(
                    f"{r.method} {r.path} -> {r.status}" for r in self.requests[-10:]
                )
                raise TimeoutError(
                    f"fake Discord: {what or getattr(predicate, '__name__', 'condition')} "
                    f"not met within {timeout}s; last requests:\n  {recent}"
                )
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, min(remaining, 0.05))

    async def wait_connected(self, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        """Until some client has identified (or resumed) and is connected."""
        await self.wait_for(self.gateway.live_sessions, timeout, what="a gateway session")

    # -- internal: state changes with their gateway events ---------------------------
    def _add_channel(self, channel: FakeChannel, *, ctx: Ctx | None) -> None:
        self.model.channels[channel.id] = channel
        self.model.messages.setdefault(channel.id, [])
        self._note_overwrites(channel, ctx)
        self._dispatch_channel("CHANNEL_CREATE", channel.id)

    def _remove_channel(self, channel_id: int) -> None:
        if channel_id in self.model.threads:
            self._remove_thread(channel_id, tell=True)
            self._changed()
            return
        payload = self.model.channel_payload(channel_id)
        for child in self.model.children_of(channel_id):
            child.parent_id = None
            self._dispatch_channel("CHANNEL_UPDATE", child.id)
        # Its threads go with it; CHANNEL_DELETE alone tells the clients (they drop them).
        for thread in [t for t in self.model.threads.values() if t.parent_id == channel_id]:
            self._remove_thread(thread.id, tell=False)
        del self.model.channels[channel_id]
        self._forget_messages(channel_id)
        self.gateway.dispatch("CHANNEL_DELETE", payload, intent=GUILDS)
        self._changed()

    def _forget_messages(self, channel_id: int) -> None:
        for msg in self.model.messages.pop(channel_id, []):
            self.model.message_index.pop(int(msg["id"]), None)

    def _add_thread(self, thread: FakeThread) -> None:
        """A new thread, told (THREAD_CREATE, `newly_created`) to the sessions that may see it."""
        self.model.threads[thread.id] = thread
        self.model.messages.setdefault(thread.id, [])
        if self.can_view(thread.id, self.bot_user.id):
            payload = self.model.channel_payload(thread.id) | {"newly_created": True}
            self.gateway.dispatch("THREAD_CREATE", payload, intent=GUILDS)
        self._changed()

    def _remove_thread(self, thread_id: int, *, tell: bool) -> None:
        thread = self.model.threads[thread_id]
        visible = self.can_view(thread_id, self.bot_user.id)
        del self.model.threads[thread_id]
        self._forget_messages(thread_id)
        if tell and visible:
            payload = {
                "id": str(thread_id),
                "guild_id": str(self.guild_id),
                "parent_id": str(thread.parent_id),
                "type": thread.type,
            }
            self.gateway.dispatch("THREAD_DELETE", payload, intent=GUILDS)

    def _dispatch_channel(self, event: str, channel_id: int) -> None:
        self.gateway.dispatch(event, self.model.channel_payload(channel_id), intent=GUILDS)
        self._changed()

    def _note_overwrites(self, channel: FakeChannel, ctx: Ctx | None) -> None:
        for note in self.model.overwrite_mismatches(channel.overwrites):
            log.warning("fake Discord: channel %s (%s): %s", channel.name, channel.id, note)
            self.overwrite_notes.append(OverwriteNote(time.monotonic(), channel.id, note))

    def _store_message(self, msg: dict[str, Any]) -> None:
        cid = int(msg["channel_id"])
        self.model.messages.setdefault(cid, []).append(msg)
        self.model.message_index[int(msg["id"])] = msg
        channel = self.model.channel_or_thread(cid)
        if channel is not None:
            channel.last_message_id = int(msg["id"])
        if isinstance(channel, FakeThread):
            channel.message_count += 1
        self._changed()

    def _dispatch_message(self, event: str, msg: dict[str, Any]) -> None:
        cid = int(msg["channel_id"])
        if self.model.channel_or_thread(cid) is None or not self.can_view(cid, self.bot_user.id):
            return  # Discord only tells the bot about channels (and threads) it can see.

        def view(session: Any) -> dict[str, Any]:
            seen = for_app(
                msg,
                app_user_id=self.bot_user.id,
                has_intent=bool(session.intents & MESSAGE_CONTENT),
            )
            return gateway_form(self.model, seen)

        self.gateway.dispatch(event, view, intent=GUILD_MESSAGES)
        self._changed()

    def _delete_message(self, channel_id: int, message_id: int) -> None:
        msgs = self.model.messages.get(channel_id, [])
        self.model.messages[channel_id] = [m for m in msgs if int(m["id"]) != message_id]
        self.model.message_index.pop(message_id, None)
        known = self.model.channel_or_thread(channel_id) is not None
        if known and self.can_view(channel_id, self.bot_user.id):
            self.gateway.dispatch(
                "MESSAGE_DELETE",
                {
                    "id": str(message_id),
                    "channel_id": str(channel_id),
                    "guild_id": str(self.guild_id),
                },
                intent=GUILD_MESSAGES,
            )
        self._changed()

    def _dispatch_reaction(self, msg: dict[str, Any], emoji: dict[str, Any], user_id: int) -> None:
        data = {
            "user_id": str(user_id),
            "channel_id": msg["channel_id"],
            "message_id": msg["id"],
            "guild_id": str(self.guild_id),
            "member": self.model.member_payload(user_id),
            "emoji": emoji,
            "message_author_id": msg["author"]["id"],
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        self.gateway.dispatch("MESSAGE_REACTION_ADD", data, intent=GUILD_MESSAGE_REACTIONS)
        self._changed()

    def _deny(self, ctx: Ctx, missing: list[str], where: str) -> None:
        self.denials.append(
            Denial(time.monotonic(), ctx.record.method, ctx.record.route, missing, where)
        )

    def _violate(self, method: str, route: str, path: str, problems: list[str], body: Any) -> None:
        violation = Violation(time.monotonic(), method, route, path, problems, body)
        log.warning("fake Discord violation: %s", violation)
        self.violations.append(violation)
        self._changed()
