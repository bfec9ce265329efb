"""The REST endpoints the fake models, with Discord's permission and limit rules.

Each handler enforces what Discord's docs say the endpoint requires; the
answers use Discord's codes (50001 Missing Access, 50013 Missing Permissions,
10003 Unknown Channel, 30013 guild channel cap, 50035 for the 50-per-category
cap). A denial is also noted in `FakeDiscord.denials` with the permissions that
were missing, since Discord's own message never names them.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

from tests.fakediscord.context import Ctx, RouteSpec
from tests.fakediscord.errors import (
    ApiError,
    form_error,
    json_response,
    missing_access,
    missing_permissions,
    unknown,
)
from tests.fakediscord.gateway import GUILD_MEMBERS, MESSAGE_CONTENT
from tests.fakediscord.messages import (
    CREATE_FLAGS,
    apply_edit,
    build_message,
    check_message_body,
    for_app,
)
from tests.fakediscord.model import (
    CATEGORY,
    GUILD_TEXT_LIKE,
    TEXT,
    FakeChannel,
    normalize_text_channel_name,
)
from tests.fakediscord.perms import MEMBER_OVERWRITE, Overwrite, P, names

if TYPE_CHECKING:
    from tests.fakediscord.server import FakeDiscord

_CH = "/channels/{channel_id}"
_MSG = _CH + "/messages/{message_id}"
_WH = "/webhooks/{application_id}/{token}"

# Literal routes (@me, @original) come before the variable ones they overlap.
ROUTES: list[RouteSpec] = [
    RouteSpec("GET", "/users/@me", "get_me"),
    RouteSpec("GET", "/users/{user_id}", "get_user"),
    RouteSpec("GET", "/oauth2/applications/@me", "get_application"),
    RouteSpec("GET", "/gateway", "get_gateway", auth=False),
    RouteSpec("GET", "/gateway/bot", "get_gateway_bot"),
    RouteSpec("GET", "/guilds/{guild_id}", "get_guild"),
    RouteSpec("GET", "/guilds/{guild_id}/channels", "list_channels"),
    RouteSpec(
        "POST",
        "/guilds/{guild_id}/channels",
        "create_channel",
        body="json",
        schema="create_guild_channel",
        spec_path="/guilds/{guild_id}/channels",
    ),
    RouteSpec("GET", "/guilds/{guild_id}/members", "list_members"),
    RouteSpec("GET", "/guilds/{guild_id}/members/{user_id}", "get_member"),
    RouteSpec("GET", "/guilds/{guild_id}/roles", "list_roles"),
    RouteSpec("GET", _CH, "get_channel"),
    RouteSpec(
        "PATCH",
        _CH,
        "modify_channel",
        body="json",
        schema="modify_channel",
        spec_path="/channels/{channel_id}",
    ),
    RouteSpec("DELETE", _CH, "delete_channel"),
    RouteSpec(
        "PUT",
        _CH + "/permissions/{overwrite_id}",
        "put_overwrite",
        body="json",
        schema="edit_channel_permissions",
        spec_path="/channels/{channel_id}/permissions/{overwrite_id}",
    ),
    RouteSpec("DELETE", _CH + "/permissions/{overwrite_id}", "delete_overwrite"),
    RouteSpec("POST", _CH + "/typing", "typing"),
    RouteSpec("GET", _CH + "/messages", "list_messages"),
    RouteSpec(
        "POST",
        _CH + "/messages",
        "create_message",
        body="json+multipart",
        schema="create_message",
        spec_path="/channels/{channel_id}/messages",
    ),
    RouteSpec("GET", _MSG, "get_message"),
    RouteSpec(
        "PATCH",
        _MSG,
        "edit_message",
        body="json+multipart",
        schema="edit_message",
        spec_path="/channels/{channel_id}/messages/{message_id}",
    ),
    RouteSpec("DELETE", _MSG, "delete_message"),
    RouteSpec("PUT", _MSG + "/reactions/{emoji}/@me", "add_reaction"),
    RouteSpec("DELETE", _MSG + "/reactions/{emoji}/@me", "remove_reaction"),
    RouteSpec("GET", "/applications/{application_id}/commands", "list_global_commands"),
    RouteSpec(
        "PUT",
        "/applications/{application_id}/commands",
        "put_global_commands",
        body="json",
        schema="bulk_overwrite_commands",
        spec_path="/applications/{application_id}/commands",
    ),
    RouteSpec(
        "GET", "/applications/{application_id}/guilds/{guild_id}/commands", "list_guild_commands"
    ),
    RouteSpec(
        "PUT",
        "/applications/{application_id}/guilds/{guild_id}/commands",
        "put_guild_commands",
        body="json",
        schema="bulk_overwrite_commands",
        spec_path="/applications/{application_id}/guilds/{guild_id}/commands",
    ),
    RouteSpec(
        "POST",
        "/interactions/{interaction_id}/{token}/callback",
        "interaction_callback",
        body="json+multipart",
        schema="interaction_callback",
        spec_path="/interactions/{interaction_id}/{interaction_token}/callback",
        auth=False,
    ),
    RouteSpec(
        "POST",
        _WH,
        "webhook_execute",
        body="json+multipart",
        schema="webhook_execute",
        spec_path="/webhooks/{webhook_id}/{webhook_token}",
        auth=False,
    ),
    RouteSpec("GET", _WH + "/messages/@original", "webhook_message", auth=False),
    RouteSpec(
        "PATCH",
        _WH + "/messages/@original",
        "webhook_message",
        body="json+multipart",
        schema="webhook_message_edit",
        spec_path="/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        auth=False,
    ),
    RouteSpec("DELETE", _WH + "/messages/@original", "webhook_message", auth=False),
    RouteSpec("GET", _WH + "/messages/{message_id}", "webhook_message", auth=False),
    RouteSpec(
        "PATCH",
        _WH + "/messages/{message_id}",
        "webhook_message",
        body="json+multipart",
        schema="webhook_message_edit",
        spec_path="/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        auth=False,
    ),
    RouteSpec("DELETE", _WH + "/messages/{message_id}", "webhook_message", auth=False),
]


def match_route(method: str, raw_path: str) -> tuple[RouteSpec | None, dict[str, str], bool]:
    """(route, params, path_known): path_known says some route had this path shape."""
    segments = raw_path.strip("/").split("/")
    path_known = False
    for route in ROUTES:
        tsegs = route.template.strip("/").split("/")
        if len(tsegs) != len(segments):
            continue
        params: dict[str, str] = {}
        for t, s in zip(tsegs, segments, strict=True):
            if t.startswith("{") and t.endswith("}"):
                if not s:
                    break
                params[t[1:-1]] = unquote(s)
            elif t != s:
                break
        else:
            path_known = True
            if route.method == method:
                return route, params, True
    return None, {}, path_known


class RestHandlers:
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
        cid = ctx.snowflake("channel_id")
        channel = self.model.channels.get(cid)
        if channel is None:
            raise unknown("Channel")
        return channel

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
        limit = self.fake.category_channel_limit
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

    def _app_view(self, msg: dict[str, Any]) -> dict[str, Any]:
        return for_app(
            msg,
            app_user_id=self.bot_id,
            has_intent=bool(self.fake.privileged_intents & MESSAGE_CONTENT),
        )

    # -- users, application, gateway -----------------------------------------------
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
        return json_response(self.fake._application_payload(full=True))

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
        if not self.fake.privileged_intents & GUILD_MEMBERS:
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
        if len(self.model.channels) >= self.fake.guild_channel_limit:
            raise ApiError(
                400,
                30013,
                f"Maximum number of guild channels reached ({self.fake.guild_channel_limit})",
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
        self._require(ctx, channel.id, P.MANAGE_CHANNELS)
        payload = self.model.channel_payload(channel.id)
        self.fake._remove_channel(channel.id)
        return json_response(payload)

    async def put_overwrite(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        perms = self._require(ctx, channel.id, 0)
        if not perms & P.MANAGE_ROLES:
            self.fake._deny(ctx, ["MANAGE_ROLES"], "editing a permission overwrite")
            raise missing_permissions()
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
        channel = self._channel(ctx)
        perms = self._require(ctx, channel.id, 0)
        if not perms & P.MANAGE_ROLES:
            self.fake._deny(ctx, ["MANAGE_ROLES"], "deleting a permission overwrite")
            raise missing_permissions()
        target = ctx.snowflake("overwrite_id")
        channel.overwrites = [o for o in channel.overwrites if o.id != target]
        self.fake._dispatch_channel("CHANNEL_UPDATE", channel.id)
        return web.Response(status=204)

    async def typing(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        self._require(ctx, channel.id, P.SEND_MESSAGES)
        return web.Response(status=204)

    # -- messages ------------------------------------------------------------------
    async def list_messages(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        perms = self._require(ctx, channel.id, 0)
        if not perms & P.READ_MESSAGE_HISTORY:
            return json_response([])
        try:
            limit = int(ctx.query.get("limit", "50"))
        except ValueError as exc:
            raise form_error("limit", "NUMBER_TYPE_COERCE", str(exc), violation=True) from exc
        if not 1 <= limit <= 100:
            raise form_error("limit", "NUMBER_TYPE_MAX", "limit must be 1-100", violation=True)
        msgs = list(self.model.messages.get(channel.id, []))
        if "before" in ctx.query:
            before = int(ctx.query["before"])
            msgs = [m for m in msgs if int(m["id"]) < before]
            msgs = msgs[-limit:]
        elif "after" in ctx.query:
            after = int(ctx.query["after"])
            msgs = [m for m in msgs if int(m["id"]) > after][:limit]
        elif "around" in ctx.query:
            around = int(ctx.query["around"])
            older = [m for m in msgs if int(m["id"]) <= around][-((limit + 1) // 2) :]
            newer = [m for m in msgs if int(m["id"]) > around][: limit // 2]
            msgs = older + newer
        else:
            msgs = msgs[-limit:]
        return json_response([self._app_view(m) for m in reversed(msgs)])

    async def get_message(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        self._require(ctx, channel.id, P.READ_MESSAGE_HISTORY)
        return json_response(self._app_view(self._message(ctx, channel)))

    async def create_message(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        if channel.type not in GUILD_TEXT_LIKE:
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
        needed = P.SEND_MESSAGES | (P.ATTACH_FILES if ctx.files else 0)
        perms = self._require(ctx, channel.id, needed)
        body = ctx.json or {}
        check_message_body(body, files=ctx.files, allowed_flags=CREATE_FLAGS)
        reference = body.get("message_reference")
        if reference and reference.get("message_id") is not None:
            if not perms & P.READ_MESSAGE_HISTORY:
                raise ApiError(
                    400, 160002, "Cannot reply without permission to read message history"
                )
            ref = self.model.message_index.get(int(reference["message_id"]))
            if ref is None and reference.get("fail_if_not_exists", True):
                raise form_error(
                    "message_reference",
                    "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                    "Unknown message",
                    violation=False,
                )
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            for existing in reversed(self.model.messages.get(channel.id, [])):
                if existing.get("nonce") == nonce and int(existing["author"]["id"]) == self.bot_id:
                    return json_response(copy.deepcopy(existing))
        msg = build_message(
            self.model,
            channel_id=channel.id,
            author=self.fake.bot_user,
            body=body,
            files=ctx.files,
            msg_type=19 if body.get("message_reference") else 0,
        )
        self.fake._store_message(msg)
        self.fake._dispatch_message("MESSAGE_CREATE", msg)
        return json_response(copy.deepcopy(msg))

    async def edit_message(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        self._require(ctx, channel.id, 0)
        msg = self._message(ctx, channel)
        if int(msg["author"]["id"]) != self.bot_id:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body = ctx.json or {}
        check_message_body(body, files=ctx.files, allowed_flags=CREATE_FLAGS, edit=True)
        apply_edit(msg, self.model, body)
        self.fake._dispatch_message("MESSAGE_UPDATE", msg)
        return json_response(copy.deepcopy(msg))

    async def delete_message(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        self._require(ctx, channel.id, 0)
        msg = self._message(ctx, channel)
        if int(msg["author"]["id"]) != self.bot_id:
            self._require(ctx, channel.id, P.MANAGE_MESSAGES)
        self.fake._delete_message(channel.id, int(msg["id"]))
        return web.Response(status=204)

    def _emoji(self, raw: str) -> dict[str, Any]:
        if ":" in raw or raw.isascii():
            # The guild has no custom emoji, and ":white_check_mark:" or "check"
            # are not unicode emoji; Discord answers 10014 for both.
            raise ApiError(400, 10014, "Unknown Emoji")
        return {"id": None, "name": raw}

    async def add_reaction(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        self._require(ctx, channel.id, P.READ_MESSAGE_HISTORY)
        msg = self._message(ctx, channel)
        emoji = self._emoji(ctx.params["emoji"])
        reactions = msg.setdefault("reactions", [])
        existing = next((r for r in reactions if r["emoji"]["name"] == emoji["name"]), None)
        if existing is None:
            self._require(ctx, channel.id, P.ADD_REACTIONS)
            existing = {
                "count": 0,
                "me": False,
                "emoji": emoji,
                "burst_colors": [],
                "count_details": {"burst": 0, "normal": 0},
                "me_burst": False,
                "burst_me": False,
                "burst_count": 0,
                "_users": [],
            }
            reactions.append(existing)
        if self.bot_id not in existing["_users"]:
            existing["_users"].append(self.bot_id)
            existing["count"] += 1
            existing["count_details"]["normal"] += 1
            existing["me"] = True
            self.fake._dispatch_reaction(msg, emoji, self.bot_id)
        return web.Response(status=204)

    async def remove_reaction(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        self._require(ctx, channel.id, 0)
        msg = self._message(ctx, channel)
        emoji = self._emoji(ctx.params["emoji"])
        for reaction in list(msg.get("reactions", [])):
            if reaction["emoji"]["name"] == emoji["name"] and self.bot_id in reaction["_users"]:
                reaction["_users"].remove(self.bot_id)
                reaction["count"] -= 1
                reaction["me"] = False
                if reaction["count"] == 0:
                    msg["reactions"].remove(reaction)
        return web.Response(status=204)

    # -- application commands --------------------------------------------------------
    def _app(self, ctx: Ctx) -> None:
        if ctx.params["application_id"] != str(self.fake.application_id):
            raise missing_access()

    async def list_global_commands(self, ctx: Ctx) -> web.Response:
        self._app(ctx)
        return json_response(copy.deepcopy(self.fake.global_commands))

    async def list_guild_commands(self, ctx: Ctx) -> web.Response:
        self._app(ctx)
        self._guild(ctx)
        return json_response(copy.deepcopy(self.fake.guild_commands))

    async def put_global_commands(self, ctx: Ctx) -> web.Response:
        self._app(ctx)
        self.fake.global_commands = self._overwrite_commands(
            ctx.json, self.fake.global_commands, None
        )
        self.fake._changed()
        return json_response(copy.deepcopy(self.fake.global_commands))

    async def put_guild_commands(self, ctx: Ctx) -> web.Response:
        self._app(ctx)
        self._guild(ctx)
        self.fake.guild_commands = self._overwrite_commands(
            ctx.json, self.fake.guild_commands, self.model.id
        )
        self.fake._changed()
        return json_response(copy.deepcopy(self.fake.guild_commands))

    def _overwrite_commands(
        self, body: list[dict[str, Any]], old: list[dict[str, Any]], guild_id: int | None
    ) -> list[dict[str, Any]]:
        seen: set[tuple[int, str]] = set()
        for i, cmd in enumerate(body):
            key = (int(cmd.get("type") or 1), cmd["name"])
            if key in seen:
                raise form_error(
                    f"{i}.name",
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique ({cmd['name']})",
                    violation=True,
                )
            seen.add(key)
            self._check_option_order(cmd.get("options") or [], f"{i}.options")
        counts: dict[int, int] = {}
        for t, _ in seen:
            counts[t] = counts.get(t, 0) + 1
        if counts.get(1, 0) > 100 or counts.get(2, 0) > 15 or counts.get(3, 0) > 15:
            raise form_error(
                "_", "TOO_MANY_COMMANDS", "Too many application commands", violation=True
            )
        by_name = {(int(c.get("type") or 1), c["name"]): c for c in old}
        out: list[dict[str, Any]] = []
        for cmd in body:
            ctype = int(cmd.get("type") or 1)
            prev = by_name.get((ctype, cmd["name"]))
            stored: dict[str, Any] = {
                "id": prev["id"] if prev else str(self.model.ids.next()),
                "application_id": str(self.fake.application_id),
                "version": str(self.model.ids.next()),
                "type": ctype,
                "name": cmd["name"],
                "name_localizations": cmd.get("name_localizations"),
                "description": cmd.get("description") or "",
                "description_localizations": cmd.get("description_localizations"),
                "default_member_permissions": (
                    None
                    if cmd.get("default_member_permissions") is None
                    else str(int(cmd["default_member_permissions"]))
                ),
                "dm_permission": cmd.get("dm_permission", True),
                "nsfw": bool(cmd.get("nsfw", False)),
                "contexts": cmd.get("contexts"),
                "integration_types": cmd.get("integration_types") or [0],
            }
            if cmd.get("options"):
                stored["options"] = copy.deepcopy(cmd["options"])
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            out.append(stored)
        return out

    def _check_option_order(self, options: list[dict[str, Any]], where: str) -> None:
        seen_optional = False
        names_seen: set[str] = set()
        for j, opt in enumerate(options):
            if opt["name"] in names_seen:
                raise form_error(
                    f"{where}.{j}.name",
                    "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                    f"Option name {opt['name']} is already used in these options",
                    violation=True,
                )
            names_seen.add(opt["name"])
            if opt.get("autocomplete") and opt.get("choices"):
                raise form_error(
                    f"{where}.{j}.autocomplete",
                    "APPLICATION_COMMAND_AUTOCOMPLETE_AND_CHOICES",
                    "Autocomplete cannot be set if choices are present",
                    violation=True,
                )
            if opt["type"] in (1, 2):
                self._check_option_order(opt.get("options") or [], f"{where}.{j}.options")
                continue
            if opt.get("required"):
                if seen_optional:
                    raise form_error(
                        f"{where}.{j}.required",
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                        violation=True,
                    )
            else:
                seen_optional = True

    # -- interactions ------------------------------------------------------------------
    async def interaction_callback(self, ctx: Ctx) -> web.Response:
        return await self.fake.interaction_service.callback(ctx)

    async def webhook_execute(self, ctx: Ctx) -> web.Response:
        return await self.fake.interaction_service.execute(ctx)

    async def webhook_message(self, ctx: Ctx) -> web.Response:
        return await self.fake.interaction_service.webhook_message(ctx)
