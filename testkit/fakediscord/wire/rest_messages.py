"""REST handlers for messages, reactions, application commands and interaction answers."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from aiohttp import web

from testkit.fakediscord.context import Ctx
from testkit.fakediscord.errors import (
    ApiError,
    form_error,
    json_response,
    missing_access,
)
from testkit.fakediscord.messages import (
    CREATE_FLAGS,
    apply_edit,
    build_message,
    check_message_body,
)
from testkit.fakediscord.model import (
    MESSAGEABLE,
)
from testkit.fakediscord.perms import P

if TYPE_CHECKING:
    from testkit.fakediscord.wire.interaction_routes import InteractionRoutes

    pass

from testkit.fakediscord.wire.rest_base import RestBase


class MessageRoutes(RestBase):
    interactions: InteractionRoutes  # set by RestHandlers

    async def typing(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        self._require(ctx, channel.id, self.model.send_permission(channel.id))
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
        _, msg = self._channel_message(ctx, P.READ_MESSAGE_HISTORY)
        return json_response(self._app_view(msg))

    async def create_message(self, ctx: Ctx) -> web.Response:
        channel = self._channel(ctx)
        if channel.type not in MESSAGEABLE:
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
        needed = self.model.send_permission(channel.id) | (P.ATTACH_FILES if ctx.files else 0)
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
                if existing.get("nonce") == nonce and self._by_bot(existing):
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
        _, msg = self._channel_message(ctx)
        if not self._by_bot(msg):
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body = ctx.json or {}
        check_message_body(body, files=ctx.files, allowed_flags=CREATE_FLAGS, edit=True)
        apply_edit(msg, self.model, body)
        self.fake._dispatch_message("MESSAGE_UPDATE", msg)
        return json_response(copy.deepcopy(msg))

    async def delete_message(self, ctx: Ctx) -> web.Response:
        channel, msg = self._channel_message(ctx)
        if not self._by_bot(msg):
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
        channel, msg = self._channel_message(ctx, P.READ_MESSAGE_HISTORY)
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
        _, msg = self._channel_message(ctx)
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
        return await self.interactions.callback(ctx)

    async def webhook_execute(self, ctx: Ctx) -> web.Response:
        return await self.interactions.execute(ctx)

    async def webhook_message(self, ctx: Ctx) -> web.Response:
        return await self.interactions.webhook_message(ctx)
