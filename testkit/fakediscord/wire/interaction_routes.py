"""Interactions, the wire side: the callback and webhook routes, with Discord's answer rules.

The fake enforces Discord's contract: one initial response, within the
deadline (3 s by default), of a type that fits the interaction; follow-ups
only after that; a deferred response's first follow-up fills the placeholder.
A refused answer is noted on the interaction's handle (`handle.refused`).
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from testkit.fakediscord.context import Ctx
from testkit.fakediscord.errors import ApiError, form_error, json_response, unknown
from testkit.fakediscord.interactions import (
    ALLOWED_CALLBACKS,
    APPLICATION_COMMAND,
    MESSAGE_COMPONENT,
    InteractionHandle,
    InteractionService,
    Refusal,
)
from testkit.fakediscord.messages import (
    EPHEMERAL,
    INTERACTION_FLAGS,
    LOADING,
    apply_edit,
    build_message,
    check_message_body,
)

if TYPE_CHECKING:
    pass


class InteractionRoutes:
    """Answers to the interactions that `InteractionService` injected (same handles)."""

    def __init__(self, service: InteractionService) -> None:
        self.fake = service.fake
        self.handles = service.handles

    # -- REST: initial response --------------------------------------------------
    def _refuse(self, handle: InteractionHandle, err: ApiError, what: str) -> ApiError:
        handle.refused.append(Refusal(time.monotonic(), err.status, err.code, err.message, what))
        self.fake._changed()
        return err

    def _handle_for(self, ctx: Ctx, id_param: str) -> InteractionHandle:
        raw = ctx.params[id_param]
        handle = self.handles.get(int(raw)) if raw.isdigit() else None
        if handle is None or handle.token != ctx.params["token"]:
            raise unknown("interaction")
        return handle

    def _interaction_meta(self, handle: InteractionHandle) -> dict[str, Any]:
        model = self.fake.model
        user = model.users[handle.user_id].payload()
        name = (handle.payload.get("data") or {}).get("name")
        meta: dict[str, Any] = {
            "interaction_metadata": {
                "id": str(handle.id),
                "type": handle.type,
                "user": user,
                "authorizing_integration_owners": {"0": str(model.id)},
            },
            "interaction": {"id": str(handle.id), "type": handle.type, "name": name, "user": user},
            "webhook_id": str(self.fake.application_id),
            "application_id": str(self.fake.application_id),
        }
        if handle.type == MESSAGE_COMPONENT and handle.original is not None:
            meta["interaction_metadata"]["interacted_message_id"] = handle.original["id"]
        return meta

    def _publish(self, msg: dict[str, Any], event: str = "MESSAGE_CREATE") -> None:
        """Store and dispatch a non-ephemeral message created by an interaction."""
        fake = self.fake
        if int(msg.get("flags") or 0) & EPHEMERAL:
            return
        if event == "MESSAGE_CREATE":
            fake._store_message(msg)
        fake._dispatch_message(event, msg)

    async def callback(self, ctx: Ctx) -> web.Response:
        fake = self.fake
        model = fake.model
        handle = self._handle_for(ctx, "interaction_id")
        if handle.acknowledged:
            raise self._refuse(
                handle,
                ApiError(400, 40060, "Interaction has already been acknowledged."),
                "callback",
            )
        if time.monotonic() - handle.created > handle.deadline:
            raise self._refuse(handle, unknown("interaction"), "callback after the deadline")
        body = ctx.json or {}
        rtype = int(body.get("type", 0))
        if rtype not in ALLOWED_CALLBACKS.get(handle.type, set()):
            raise form_error(
                "type",
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"callback type {rtype} is not valid for interaction type {handle.type}",
                violation=True,
            )
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        if rtype == 4:
            check_message_body(data, files=ctx.files, allowed_flags=INTERACTION_FLAGS)
            msg = build_message(
                model,
                channel_id=handle.channel_id,
                author=fake.bot_user,
                body=data,
                files=ctx.files,
                msg_type=20 if handle.type == APPLICATION_COMMAND else 0,
                extra=self._interaction_meta(handle),
            )
            handle.original = msg
            self._publish(msg)
        elif rtype == 5:
            if flags & ~EPHEMERAL:
                raise form_error(
                    "data.flags", "INVALID", "a defer only takes EPHEMERAL", violation=True
                )
            if handle.type == APPLICATION_COMMAND:
                msg = build_message(
                    model,
                    channel_id=handle.channel_id,
                    author=fake.bot_user,
                    body={"content": "", "flags": flags},
                    msg_type=20,
                    extra=self._interaction_meta(handle),
                )
                msg["flags"] = flags | LOADING
                handle.original = msg
                self._publish(msg)
        elif rtype == 7:
            assert handle.original is not None
            check_message_body(data, files=ctx.files, allowed_flags=INTERACTION_FLAGS, edit=True)
            apply_edit(handle.original, model, data)
            handle.edits.append(copy.deepcopy(data))
            fake._dispatch_message("MESSAGE_UPDATE", handle.original)
        elif rtype == 8:
            self._check_choices(handle, data)
        handle.response_type = rtype
        handle.response = copy.deepcopy(body)
        handle.answered_at = time.monotonic()
        fake._changed()
        if ctx.query.get("with_response") not in ("1", "true", "True"):
            return _no_content()
        interaction: dict[str, Any] = {
            "id": str(handle.id),
            "type": handle.type,
            "response_message_loading": rtype == 5,
            "response_message_ephemeral": bool(flags & EPHEMERAL),
        }
        resource: dict[str, Any] = {"type": rtype}
        if rtype in (4, 5, 7) and handle.original is not None:
            interaction["response_message_id"] = handle.original["id"]
            resource["message"] = copy.deepcopy(handle.original)
        return json_response({"interaction": interaction, "resource": resource})

    def _check_choices(self, handle: InteractionHandle, data: dict[str, Any]) -> None:
        focused = _focused_option((handle.payload.get("data") or {}).get("options") or [])
        choices = data.get("choices") or []
        if focused is None:
            return
        want: type | tuple[type, ...] = str if focused["type"] == 3 else (int, float)
        for i, choice in enumerate(choices):
            value = choice.get("value")
            if isinstance(value, bool) or not isinstance(value, want):
                raise form_error(
                    f"data.choices.{i}.value",
                    "AUTOCOMPLETE_CHOICE_TYPE",
                    f"option {focused['name']!r} is type {focused['type']}, choice value {value!r}",
                    violation=True,
                )

    # -- REST: follow-ups and the original response --------------------------------
    def _webhook_handle(self, ctx: Ctx) -> InteractionHandle:
        if ctx.params["application_id"] != str(self.fake.application_id):
            raise unknown("Webhook")
        for handle in self.handles.values():
            if handle.token == ctx.params["token"]:
                return handle
        raise unknown("Webhook")

    async def execute(self, ctx: Ctx) -> web.Response:
        fake = self.fake
        handle = self._webhook_handle(ctx)
        if not handle.acknowledged:
            raise self._refuse(handle, unknown("Webhook"), "follow-up before any response")
        body = ctx.json or {}
        check_message_body(body, files=ctx.files, allowed_flags=INTERACTION_FLAGS)
        original = handle.original
        if original is not None and int(original.get("flags") or 0) & LOADING:
            # The first follow-up after a defer replaces the "thinking" placeholder.
            edit = {k: v for k, v in body.items() if k != "flags"}
            apply_edit(original, fake.model, edit, files=ctx.files)
            handle.edits.append(copy.deepcopy(body))
            if not int(original.get("flags") or 0) & EPHEMERAL:
                fake._dispatch_message("MESSAGE_UPDATE", original)
            msg = original
        else:
            msg = build_message(
                fake.model,
                channel_id=handle.channel_id,
                author=fake.bot_user,
                body=body,
                files=ctx.files,
                msg_type=0,
                extra=self._interaction_meta(handle),
            )
            handle.followups.append(msg)
            self._publish(msg)
        fake._changed()
        if ctx.query.get("wait") in ("1", "true", "True"):
            return json_response(copy.deepcopy(msg))
        return _no_content()

    def _webhook_message(self, handle: InteractionHandle, raw_id: str) -> dict[str, Any]:
        if raw_id == "@original":
            if handle.original is None or handle.original_deleted:
                raise unknown("Message")
            return handle.original
        for msg in handle.followups + ([handle.original] if handle.original else []):
            if msg["id"] == raw_id:
                return msg
        raise unknown("Message")

    async def webhook_message(self, ctx: Ctx) -> web.Response:
        fake = self.fake
        handle = self._webhook_handle(ctx)
        msg = self._webhook_message(handle, ctx.params.get("message_id", "@original"))
        method = ctx.request.method
        if method == "GET":
            return json_response(copy.deepcopy(msg))
        if method == "DELETE":
            if msg is handle.original:
                handle.original_deleted = True
            else:
                handle.followups.remove(msg)
            fake._delete_message(int(msg["channel_id"]), int(msg["id"]))
            return _no_content()
        body = ctx.json or {}
        check_message_body(body, files=ctx.files, allowed_flags=INTERACTION_FLAGS, edit=True)
        apply_edit(msg, fake.model, body)
        handle.edits.append(copy.deepcopy(body))
        if not int(msg.get("flags") or 0) & EPHEMERAL:
            fake._dispatch_message("MESSAGE_UPDATE", msg)
        fake._changed()
        return json_response(copy.deepcopy(msg))


def _focused_option(options: list[dict[str, Any]]) -> dict[str, Any] | None:
    for opt in options:
        if opt.get("focused"):
            return opt
        inner = _focused_option(opt.get("options") or [])
        if inner is not None:
            return inner
    return None


def _no_content() -> web.Response:
    return web.Response(status=204)
