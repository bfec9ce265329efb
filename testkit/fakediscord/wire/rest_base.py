"""The REST handlers' shared ground: the guild, its channels and Discord's permission checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testkit.fakediscord.context import Ctx
from testkit.fakediscord.errors import (
    form_error,
    missing_access,
    missing_permissions,
    unknown,
)
from testkit.fakediscord.messages import (
    for_app,
)
from testkit.fakediscord.model import (
    CATEGORY,
    FakeChannel,
    FakeThread,
)
from testkit.fakediscord.perms import Overwrite, P, names
from testkit.fakediscord.wire.intents import MESSAGE_CONTENT

if TYPE_CHECKING:
    from testkit.fakediscord.api import FakeDiscord


class RestBase:
    """What every handler needs: the guild, its channels, and the permission checks."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.model = fake.model

    # -- helpers ---------------------------------------------------------------
    @property
    def bot_id(self) -> int:
        return self.fake.bot_user.id

    def _guild(self, ctx: Ctx) -> None:
        if ctx.params.get("guild_id") != str(self.model.id):
            raise unknown("Guild")

    def _channel(self, ctx: Ctx) -> FakeChannel:
        """The route's channel, or thread: a thread is a channel on every /channels route."""
        cid = ctx.snowflake("channel_id")
        channel = self.model.channel_or_thread(cid)
        if channel is None:
            raise unknown("Channel")
        return channel

    def _not_a_thread(self, ctx: Ctx, channel: FakeChannel) -> None:
        """Editing a thread (archiving, renaming) takes other fields; the fake has no model."""
        if isinstance(channel, FakeThread):
            raise form_error(
                "channel_id",
                "FAKE_UNMODELLED",
                f"the fake does not model {ctx.record.method} on a thread ({channel.id})",
                violation=True,
            )

    def _require(self, ctx: Ctx, channel_id: int, bits: int) -> int:
        perms = self.model.permissions_in(channel_id, self.bot_id)
        if not perms & P.VIEW_CHANNEL:
            self.fake._deny(ctx, ["VIEW_CHANNEL"], f"channel {channel_id}")
            raise missing_access()
        missing = bits & ~perms
        if missing:
            self.fake._deny(ctx, names(missing), f"channel {channel_id}")
            raise missing_permissions()
        return perms

    def _require_guild(self, ctx: Ctx, bits: int) -> int:
        perms = self.model.base_permissions(self.bot_id)
        missing = bits & ~perms
        if missing:
            self.fake._deny(ctx, names(missing), "guild")
            raise missing_permissions()
        return perms

    def _parse_overwrites(self, raw: list[dict[str, Any]]) -> list[Overwrite]:
        out: dict[int, Overwrite] = {}
        for item in raw:
            ow = Overwrite(
                id=int(item["id"]),
                type=int(item["type"]),
                allow=int(item.get("allow") or 0),
                deny=int(item.get("deny") or 0),
            )
            out[ow.id] = ow
        return list(out.values())

    def _check_overwrite_grants(
        self, ctx: Ctx, overwrites: list[Overwrite], *, holdable: int, may_manage_roles: bool
    ) -> None:
        """Only permissions the bot holds may be allowed or denied; Manage Roles
        (shown as "Manage Permissions" on a channel) only by an administrator or
        a holder of a Manage Roles overwrite in that channel."""
        base = self.model.base_permissions(self.bot_id)
        if base & P.ADMINISTRATOR:
            return
        for ow in overwrites:
            bits = ow.allow | ow.deny
            if bits & P.MANAGE_ROLES and not may_manage_roles:
                self.fake._deny(
                    ctx,
                    ["ADMINISTRATOR"],
                    f"overwrite for {ow.id} sets MANAGE_ROLES (manage permissions)",
                )
                raise missing_permissions()
            beyond = bits & ~holdable & ~int(P.MANAGE_ROLES)
            if beyond:
                self.fake._deny(
                    ctx, names(beyond), f"overwrite for {ow.id} sets permissions the bot lacks"
                )
                raise missing_permissions()

    def _check_parent(self, ctx: Ctx, parent_raw: Any, ch_type: int) -> FakeChannel | None:
        if parent_raw is None:
            return None
        parent = self.model.channels.get(int(parent_raw))
        if parent is None or parent.type != CATEGORY:
            raise form_error(
                "parent_id", "CHANNEL_PARENT_INVALID", "Not a category", violation=False
            )
        if ch_type == CATEGORY:
            raise form_error(
                "parent_id",
                "CHANNEL_PARENT_INVALID_TYPE",
                "Categories cannot be nested",
                violation=False,
            )
        limit = self.fake.rules.category_channel_limit
        if len(self.model.children_of(parent.id)) >= limit:
            raise form_error(
                "parent_id",
                "CHANNEL_PARENT_MAX_CHANNELS",
                f"Maximum number of channels in category reached ({limit})",
                violation=False,
            )
        return parent

    def _message(self, ctx: Ctx, channel: FakeChannel) -> dict[str, Any]:
        mid = ctx.snowflake("message_id")
        msg = self.model.message_index.get(mid)
        if msg is None or int(msg["channel_id"]) != channel.id:
            raise unknown("Message")
        return msg

    def _channel_message(self, ctx: Ctx, bits: int = 0) -> tuple[FakeChannel, dict[str, Any]]:
        """The route's channel and message, once the bot may see the channel (and hold `bits`)."""
        channel = self._channel(ctx)
        self._require(ctx, channel.id, bits)
        return channel, self._message(ctx, channel)

    def _by_bot(self, msg: dict[str, Any]) -> bool:
        return int(msg["author"]["id"]) == self.bot_id

    def _app_view(self, msg: dict[str, Any]) -> dict[str, Any]:
        return for_app(
            msg,
            app_user_id=self.bot_id,
            has_intent=bool(self.fake.rules.privileged_intents & MESSAGE_CONTENT),
        )

    # -- users, application, gateway -----------------------------------------------
