"""Building message objects the way Discord does, and hiding content the way it does.

Mentions follow `allowed_mentions` (the `mentions` array holds only users who
are actually pinged), and message content is blanked for an app without the
Message Content intent unless the app wrote the message or is mentioned in it.
"""

from __future__ import annotations

import copy
from typing import Any

from testkit.fakediscord.errors import ApiError, form_error
from testkit.fakediscord.model import (
    FakeUser,
    GuildModel,
    mentioned_role_ids,
    mentioned_user_ids,
    now_iso,
)
from testkit.fakediscord.perms import P

EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_VOICE_MESSAGE = 1 << 13
IS_COMPONENTS_V2 = 1 << 15
CREATE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_VOICE_MESSAGE | IS_COMPONENTS_V2
INTERACTION_FLAGS = CREATE_FLAGS | EPHEMERAL

CONTENT_FIELDS = ("content", "embeds", "attachments", "components", "poll")


def _embed_chars(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for fld in embed.get("fields") or []:
        total += len(fld.get("name") or "") + len(fld.get("value") or "")
    return total


def check_message_body(
    body: dict[str, Any], *, files: list[dict[str, Any]], allowed_flags: int, edit: bool = False
) -> None:
    """Semantic rules the schemas cannot express (Discord answers 400 for each)."""
    allowed = body.get("allowed_mentions")
    if isinstance(allowed, dict):
        parse = allowed.get("parse") or []
        for kind in ("users", "roles"):
            if kind in parse and allowed.get(kind):
                raise form_error(
                    f"allowed_mentions.{kind}",
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{kind}"] and {kind}: [ids] are mutually exclusive.',
                    violation=True,
                )
    embeds = body.get("embeds") or []
    if sum(_embed_chars(e) for e in embeds) > 6000:
        raise form_error(
            "embeds",
            "MESSAGE_EMBEDS_TOO_LARGE",
            "Embed size exceeds maximum size of 6000",
            violation=True,
        )
    flags = body.get("flags") or 0
    if flags & ~allowed_flags:
        raise form_error(
            "flags", "MESSAGE_FLAGS_INVALID", f"Invalid message flags: {flags}", violation=True
        )
    if edit:
        return
    has_body = any(
        body.get(key) for key in ("content", "embeds", "sticker_ids", "components", "poll")
    )
    if not has_body and not files:
        raise ApiError(400, 50006, "Cannot send an empty message")


def build_message(
    model: GuildModel,
    *,
    channel_id: int,
    author: FakeUser,
    body: dict[str, Any],
    files: list[dict[str, Any]] | None = None,
    msg_type: int = 0,
    message_id: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A stored message payload (full content; visibility is applied on the way out)."""
    content = body.get("content") or ""
    allowed = body.get("allowed_mentions")
    if allowed is None:
        parse = {"users", "roles", "everyone"}
        allowed_users: set[int] = set()
        allowed_roles: set[int] = set()
        replied_user = True
    else:
        parse = set(allowed.get("parse") or [])
        allowed_users = {int(u) for u in allowed.get("users") or []}
        allowed_roles = {int(r) for r in allowed.get("roles") or []}
        replied_user = bool(allowed.get("replied_user", False))
    mentions = [
        uid
        for uid in mentioned_user_ids(content)
        if uid in model.users and ("users" in parse or uid in allowed_users)
    ]
    role_mentions = [
        rid
        for rid in mentioned_role_ids(content)
        if rid in model.roles and ("roles" in parse or rid in allowed_roles)
    ]
    reference = body.get("message_reference")
    referenced = None
    if reference and reference.get("message_id") is not None:
        referenced = model.message_index.get(int(reference["message_id"]))
        if referenced is not None and replied_user:
            ref_author = int(referenced["author"]["id"])
            if ref_author not in mentions:
                mentions.append(ref_author)
    can_everyone = bool(model.permissions_in(channel_id, author.id) & P.MENTION_EVERYONE)
    mention_everyone = (
        ("@everyone" in content or "@here" in content) and "everyone" in parse and can_everyone
    )
    embeds = []
    for embed in body.get("embeds") or []:
        e = copy.deepcopy(embed)
        e.setdefault("type", "rich")
        embeds.append(e)
    attachments = [
        {
            "id": str(model.ids.next()),
            "filename": f["filename"],
            "size": f["size"],
            "url": f"https://cdn.fake.invalid/attachments/{channel_id}/{f['filename']}",
            "proxy_url": f"https://media.fake.invalid/attachments/{channel_id}/{f['filename']}",
            "content_type": f.get("content_type"),
        }
        for f in files or []
    ]
    msg: dict[str, Any] = {
        "id": str(message_id if message_id is not None else model.ids.next()),
        "type": msg_type,
        "channel_id": str(channel_id),
        "author": author.payload(),
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": bool(body.get("tts", False)),
        "mention_everyone": mention_everyone,
        "mentions": [model.users[uid].payload() for uid in mentions],
        "mention_roles": [str(r) for r in role_mentions],
        "attachments": attachments,
        "embeds": embeds,
        "pinned": False,
        "flags": int(body.get("flags") or 0),
        "components": copy.deepcopy(body.get("components") or []),
    }
    if body.get("nonce") is not None:
        msg["nonce"] = body["nonce"]
    if body.get("poll"):
        msg["poll"] = copy.deepcopy(body["poll"])
    if referenced is not None:
        msg["message_reference"] = {
            "type": 0,
            "message_id": referenced["id"],
            "channel_id": referenced["channel_id"],
            "guild_id": str(model.id),
        }
        msg["referenced_message"] = copy.deepcopy(referenced)
        msg["referenced_message"].pop("referenced_message", None)
    if extra:
        msg.update(extra)
    return msg


def apply_edit(
    msg: dict[str, Any],
    model: GuildModel,
    body: dict[str, Any],
    files: list[dict[str, Any]] | None = None,
) -> None:
    """Update a stored message in place from an edit body (absent keys stay); uploaded
    `files` become its attachments."""
    author = model.users[int(msg["author"]["id"])]
    merged = {
        "content": body.get("content", msg.get("content")),
        "embeds": body.get("embeds", msg.get("embeds")),
        "components": body.get("components", msg.get("components")),
        "allowed_mentions": body.get("allowed_mentions"),
        "flags": body.get("flags", msg.get("flags")),
    }
    rebuilt = build_message(
        model,
        channel_id=int(msg["channel_id"]),
        author=author,
        body=merged,
        msg_type=msg["type"],
        message_id=int(msg["id"]),
        files=files,
    )
    for key in ("content", "embeds", "components", "mentions", "mention_roles", "mention_everyone"):
        msg[key] = rebuilt[key]
    if files:
        msg["attachments"] = rebuilt["attachments"]
    if body.get("flags") is not None:
        msg["flags"] = (int(msg.get("flags") or 0) & EPHEMERAL) | int(body["flags"])
    msg["flags"] = int(msg.get("flags") or 0) & ~LOADING
    msg["edited_timestamp"] = now_iso()


def content_visible(msg: dict[str, Any], *, app_user_id: int, has_intent: bool) -> bool:
    if has_intent:
        return True
    if int(msg["author"]["id"]) == app_user_id:
        return True
    return any(int(u["id"]) == app_user_id for u in msg.get("mentions", []))


def for_app(msg: dict[str, Any], *, app_user_id: int, has_intent: bool) -> dict[str, Any]:
    """The message as an app sees it: content fields blanked without the intent."""
    out = copy.deepcopy(msg)
    if not content_visible(msg, app_user_id=app_user_id, has_intent=has_intent):
        out["content"] = ""
        out["embeds"] = []
        out["attachments"] = []
        out["components"] = []
        out.pop("poll", None)
    return out


def gateway_form(model: GuildModel, msg: dict[str, Any]) -> dict[str, Any]:
    """MESSAGE_CREATE/UPDATE data: the message plus guild_id and partial members."""
    out = copy.deepcopy(msg)
    out["guild_id"] = str(model.id)
    author_id = int(msg["author"]["id"])
    if author_id in model.members and "webhook_id" not in msg:
        out["member"] = model.member_payload(author_id, with_user=False)
    for user in out.get("mentions", []):
        uid = int(user["id"])
        if uid in model.members:
            user["member"] = model.member_payload(uid, with_user=False)
    return out
