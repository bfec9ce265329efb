"""REST handlers for the user, the application, the gateway URL, the guild and its channels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from testkit.fakediscord.context import Ctx
from testkit.fakediscord.errors import (
    ApiError,
    form_error,
    json_response,
    missing_access,
    missing_permissions,
    unknown,
)
from testkit.fakediscord.model import (
    CATEGORY,
    GUILD_TEXT_LIKE,
    TEXT,
    FakeChannel,
    normalize_text_channel_name,
)
from testkit.fakediscord.perms import MEMBER_OVERWRITE, Overwrite, P
from testkit.fakediscord.wire.intents import GUILD_MEMBERS

if TYPE_CHECKING:
    pass

from testkit.fakediscord.wire.payloads import application_payload
from testkit.fakediscord.wire.rest_base import RestBase


class GuildRoutes(RestBase):
    async def get_me(self, ctx: Ctx) -> web.Response:
        me = self.fake.bot_user.payload() | {
            "verified": True,
            "mfa_enabled": False,
            "email": None,
            "locale": "en-US",
            "premium_type": 0,
        }
        return json_response(me)

    async def get_user(self, ctx: Ctx) -> web.Response:
        uid = ctx.snowflake("user_id")
        user = self.model.users.get(uid)
        if user is None:
            raise unknown("User")
        return json_response(user.payload())

    async def get_application(self, ctx: Ctx) -> web.Response:
        return json_response(application_payload(self.fake, full=True))

    async def get_gateway(self, ctx: Ctx) -> web.Response:
        return json_response({"url": self.fake.ws_url})

    async def get_gateway_bot(self, ctx: Ctx) -> web.Response:
        return json_response(
            {
                "url": self.fake.ws_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    # -- guild ---------------------------------------------------------------------
    async def get_guild(self, ctx: Ctx) -> web.Response:
        self._guild(ctx)
        payload = self.model.guild_payload()
        if ctx.query.get("with_counts") in ("1", "true", "True"):
            payload["approximate_member_count"] = len(self.model.members)
            payload["approximate_presence_count"] = 0
        return json_response(payload)

    async def list_channels(self, ctx: Ctx) -> web.Response:
        self._guild(ctx)
        return json_response([self.model.channel_payload(cid) for cid in self.model.channels])

    async def list_roles(self, ctx: Ctx) -> web.Response:
        self._guild(ctx)
        return json_response([r.payload() for r in self.model.roles.values()])

    async def get_member(self, ctx: Ctx) -> web.Response:
        self._guild(ctx)
        uid = ctx.snowflake("user_id")
        if uid not in self.model.members:
            raise unknown("Member")
        return json_response(self.model.member_payload(uid))

    async def list_members(self, ctx: Ctx) -> web.Response:
        self._guild(ctx)
        if not self.fake.rules.privileged_intents & GUILD_MEMBERS:
            self.fake._deny(ctx, ["GUILD_MEMBERS intent (developer portal)"], "list members")
            raise missing_access()
        try:
            limit = int(ctx.query.get("limit", "1"))
            after = int(ctx.query.get("after", "0"))
        except ValueError as exc:
            raise form_error("limit", "NUMBER_TYPE_COERCE", str(exc), violation=True) from exc
        if not 1 <= limit <= 1000:
            raise form_error(
                "limit", "NUMBER_TYPE_MAX", "limit must be between 1 and 1000", violation=True
            )
        ids = sorted(uid for uid in self.model.members if uid > after)[:limit]
        return json_response([self.model.member_payload(uid) for uid in ids])

    # -- channels ------------------------------------------------------------------
    async def create_channel(self, ctx: Ctx) -> web.Response:
        self._guild(ctx)
        body = ctx.json
        ch_type = body.get("type")
        ch_type = TEXT if ch_type is None else int(ch_type)
        if ch_type not in (TEXT, CATEGORY, 2):
            raise form_error(
                "type",
                "FAKE_UNMODELLED",
                f"the fake models text (0), voice (2) and category (4) channels, not {ch_type}",
                violation=True,
            )
        parent = self._check_parent(ctx, body.get("parent_id"), ch_type)
        if parent is not None:
            self._require(ctx, parent.id, P.MANAGE_CHANNELS)
        else:
            self._require_guild(ctx, P.MANAGE_CHANNELS)
        raw_ows = body.get("permission_overwrites")
        if raw_ows is None and parent is not None:
            overwrites = list(parent.overwrites)  # synced with the category
        else:
            overwrites = self._parse_overwrites(raw_ows or [])
            self._check_overwrite_grants(
                ctx,
                overwrites,
                holdable=self.model.base_permissions(self.bot_id),
                may_manage_roles=False,
            )
        if len(self.model.channels) >= self.fake.rules.guild_channel_limit:
            raise ApiError(
                400,
                30013,
                f"Maximum number of guild channels reached ({self.fake.rules.guild_channel_limit})",
            )
        name = body["name"]
        if ch_type in GUILD_TEXT_LIKE:
            name = normalize_text_channel_name(name)
        channel = FakeChannel(
            id=self.model.ids.next(),
            type=ch_type,
            name=name,
            position=body.get("position")
            if body.get("position") is not None
            else self.model.next_position(),
            parent_id=None if parent is None else parent.id,
            topic=body.get("topic"),
            nsfw=bool(body.get("nsfw") or False),
            rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
            overwrites=overwrites,
        )
        self.fake._add_channel(channel, ctx=ctx)
        return json_response(self.model.channel_payload(channel.id), status=201)

    async def get_channel(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        self._require(ctx, channel.id, 0)
        return json_response(self.model.channel_payload(channel.id))

    async def modify_channel(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        self._not_a_thread(ctx, channel)
        perms = self._require(ctx, channel.id, P.MANAGE_CHANNELS)
        body = ctx.json
        new_parent = channel.parent_id
        if "parent_id" in body:
            raw_parent = body["parent_id"]
            if raw_parent is None:
                new_parent = None
            elif int(raw_parent) != channel.parent_id:
                parent = self._check_parent(ctx, raw_parent, channel.type)
                new_parent = None if parent is None else parent.id
        overwrites = channel.overwrites
        if "permission_overwrites" in body and body["permission_overwrites"] is not None:
            if not perms & P.MANAGE_ROLES:
                self.fake._deny(ctx, ["MANAGE_ROLES"], "editing permission overwrites")
                raise missing_permissions()
            overwrites = self._parse_overwrites(body["permission_overwrites"])
            holds_overwrite = self._has_manage_roles_overwrite(channel)
            holdable = self.model.base_permissions(self.bot_id)
            if channel.parent_id is not None:
                holdable |= self.model.permissions_in(channel.parent_id, self.bot_id)
            if holds_overwrite:
                holdable = ~0
            self._check_overwrite_grants(
                ctx, overwrites, holdable=holdable, may_manage_roles=holds_overwrite
            )
        if "name" in body:
            channel.name = (
                normalize_text_channel_name(body["name"])
                if channel.type in GUILD_TEXT_LIKE
                else body["name"]
            )
        if "topic" in body:
            channel.topic = body["topic"]
        if "nsfw" in body and body["nsfw"] is not None:
            channel.nsfw = bool(body["nsfw"])
        if "rate_limit_per_user" in body and body["rate_limit_per_user"] is not None:
            channel.rate_limit_per_user = int(body["rate_limit_per_user"])
        if "position" in body and body["position"] is not None:
            channel.position = int(body["position"])
        channel.parent_id = new_parent
        channel.overwrites = overwrites
        self.fake._note_overwrites(channel, ctx)
        self.fake._dispatch_channel("CHANNEL_UPDATE", channel.id)
        return json_response(self.model.channel_payload(channel.id))

    def _has_manage_roles_overwrite(self, channel: FakeChannel) -> bool:
        roles = set(self.model.member_roles(self.bot_id))
        for ow in channel.overwrites:
            applies = (ow.type == MEMBER_OVERWRITE and ow.id == self.bot_id) or (
                ow.type == 0 and (ow.id in roles or ow.id == self.model.id)
            )
            if applies and ow.allow & P.MANAGE_ROLES:
                return True
        return False

    async def delete_channel(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        # Deleting a thread takes Manage Threads, not Manage Channels.
        is_thread = channel.id in self.model.threads
        self._require(ctx, channel.id, P.MANAGE_THREADS if is_thread else P.MANAGE_CHANNELS)
        payload = self.model.channel_payload(channel.id)
        self.fake._remove_channel(channel.id)
        return json_response(payload)

    def _overwrite_channel(self, ctx: Ctx, doing: str) -> FakeChannel:
        """The route's channel, once the bot may change its overwrites (Manage Roles there)."""
        channel = self._channel(ctx)
        self._not_a_thread(ctx, channel)
        if not self._require(ctx, channel.id, 0) & P.MANAGE_ROLES:
            self.fake._deny(ctx, ["MANAGE_ROLES"], doing)
            raise missing_permissions()
        return channel

    async def put_overwrite(self, ctx: Ctx) -> web.Response:
        channel = self._overwrite_channel(ctx, "editing a permission overwrite")
        body = ctx.json
        target = ctx.snowflake("overwrite_id")
        ow = Overwrite(
            id=target,
            type=int(body["type"]),
            allow=int(body.get("allow") or 0),
            deny=int(body.get("deny") or 0),
        )
        holds_overwrite = self._has_manage_roles_overwrite(channel)
        holdable = ~0 if holds_overwrite else self.model.base_permissions(self.bot_id)
        self._check_overwrite_grants(ctx, [ow], holdable=holdable, may_manage_roles=holds_overwrite)
        channel.overwrites = [o for o in channel.overwrites if o.id != target] + [ow]
        self.fake._note_overwrites(channel, ctx)
        self.fake._dispatch_channel("CHANNEL_UPDATE", channel.id)
        return web.Response(status=204)

    async def delete_overwrite(self, ctx: Ctx) -> web.Response:
        channel = self._overwrite_channel(ctx, "deleting a permission overwrite")
        target = ctx.snowflake("overwrite_id")
        channel.overwrites = [o for o in channel.overwrites if o.id != target]
        self.fake._dispatch_channel("CHANNEL_UPDATE", channel.id)
        return web.Response(status=204)
