"""Interactions, the test side: injecting INTERACTION_CREATE and the handle to read the answer.

A test injects a slash command (or autocomplete, or a button press) from a
member; the bot answers through the interaction callback and webhook routes.
The fake enforces Discord's contract: one initial response, within the
deadline (3 s by default), of a type that fits the interaction; follow-ups
only after that; a deferred response's first follow-up fills the placeholder.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from testkit.fakediscord.messages import (
    EPHEMERAL,
)
from testkit.fakediscord.model import FakeUser
from testkit.fakediscord.perms import ALL_PERMISSIONS, P

if TYPE_CHECKING:
    from testkit.fakediscord.api import FakeDiscord

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4

ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {4, 5, 9},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
}


@dataclass
class Refusal:
    """A callback or follow-up Discord would have refused (and the fake did)."""

    t: float
    status: int
    code: int
    message: str
    what: str


@dataclass
class InteractionHandle:
    """A test's view of one injected interaction and everything the bot did with it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    channel_id: int
    user_id: int
    created: float
    deadline: float
    command: str | None = None
    response_type: int | None = None
    response: dict[str, Any] | None = None
    answered_at: float | None = None
    original: dict[str, Any] | None = None
    followups: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    original_deleted: bool = False
    _fake: FakeDiscord | None = field(default=None, repr=False)

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    @property
    def expired(self) -> bool:
        """Deadline passed with no initial response: Discord shows "interaction failed"."""
        return not self.acknowledged and time.monotonic() - self.created > self.deadline

    @property
    def ephemeral(self) -> bool:
        data = (self.response or {}).get("data") or {}
        return bool(int(data.get("flags") or 0) & EPHEMERAL)

    @property
    def choices(self) -> list[dict[str, Any]]:
        """Autocomplete choices the bot returned."""
        data = (self.response or {}).get("data") or {}
        return list(data.get("choices") or [])

    def messages(self) -> list[dict[str, Any]]:
        out = [] if self.original is None or self.original_deleted else [self.original]
        return out + self.followups

    def text(self) -> str:
        """All visible text the user got back (contents, embed titles/descriptions/fields)."""
        parts: list[str] = []
        for msg in self.messages():
            parts.append(msg.get("content") or "")
            for embed in msg.get("embeds") or []:
                parts.extend([embed.get("title") or "", embed.get("description") or ""])
                for fld in embed.get("fields") or []:
                    parts.extend([fld.get("name") or "", fld.get("value") or ""])
        return "\n".join(p for p in parts if p)

    async def wait_response(self, timeout: float = 15.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The accepted initial response body; fails if Discord refused it or none came."""
        assert self._fake is not None
        await self._fake.wait_for(lambda: self.acknowledged or self.refused, timeout=timeout)
        if not self.acknowledged:
            raise AssertionError(f"interaction {self.id} was refused: {self.refused}")
        assert self.response is not None
        return self.response

    async def wait_text(self, timeout: float = 15.0) -> str:  # noqa: ASYNC109
        """Wait for visible text (after a defer, the follow-up or edit that fills it)."""
        assert self._fake is not None
        await self._fake.wait_for(lambda: self.text() or self.refused, timeout=timeout)
        return self.text()


def _walk_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for comp in components or []:
        found.append(comp)
        found.extend(_walk_components(comp.get("components") or []))
        if isinstance(comp.get("accessory"), dict):
            found.append(comp["accessory"])
    return found


class InteractionService:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.handles: dict[int, InteractionHandle] = {}
        self._timers: list[asyncio.TimerHandle] = []

    def cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    # -- injection ----------------------------------------------------------------
    def _find_command(self, name: str) -> dict[str, Any]:
        fake = self.fake
        for cmd in fake.guild_commands + fake.global_commands:
            if cmd["name"] == name and cmd.get("type", 1) == 1:
                return cmd
        raise LookupError(
            f"/{name} is not registered with the fake Discord (sync the command tree first); "
            "Discord would not let anyone invoke it"
        )

    def _option_value(self, opt_def: dict[str, Any], value: Any, resolved: dict[str, Any]) -> Any:
        model = self.fake.model
        otype = opt_def["type"]
        if otype == 3:
            return str(value)
        if otype == 4:
            return int(value)
        if otype == 10:
            return float(value)
        if otype == 5:
            return bool(value)
        uid = int(getattr(value, "id", value))
        if otype in (6, 9) and uid in model.users:
            resolved.setdefault("users", {})[str(uid)] = model.users[uid].payload()
            if uid in model.members:
                resolved.setdefault("members", {})[str(uid)] = model.member_payload(
                    uid, with_user=False
                ) | {"permissions": str(model.base_permissions(uid))}
            return str(uid)
        if otype in (8, 9) and uid in model.roles:
            resolved.setdefault("roles", {})[str(uid)] = model.roles[uid].payload()
            return str(uid)
        if otype == 7 and uid in model.channels:
            ch = model.channel_payload(uid)
            resolved.setdefault("channels", {})[str(uid)] = {
                k: ch[k] for k in ("id", "name", "type", "parent_id") if k in ch
            } | {"permissions": str(ALL_PERMISSIONS)}
            return str(uid)
        raise ValueError(f"option {opt_def['name']!r}: {value!r} does not name a known object")

    def _build_options(
        self,
        defs: list[dict[str, Any]],
        options: Mapping[str, Any],
        *,
        focused: str | None,
        resolved: dict[str, Any],
        where: str,
    ) -> list[dict[str, Any]]:
        by_name = {d["name"]: d for d in defs}
        out: list[dict[str, Any]] = []
        for name, value in options.items():
            if name not in by_name:
                raise ValueError(f"{where} has no option {name!r} (has {sorted(by_name)})")
            opt_def = by_name[name]
            if name == focused:
                if not opt_def.get("autocomplete"):
                    raise ValueError(f"option {name!r} of {where} has no autocomplete")
                out.append(
                    {"name": name, "type": opt_def["type"], "value": str(value), "focused": True}
                )
                continue
            converted = self._option_value(opt_def, value, resolved)
            choices = opt_def.get("choices")
            if choices and converted not in [c["value"] for c in choices]:
                raise ValueError(
                    f"option {name!r} of {where} only offers {[c['value'] for c in choices]}"
                )
            out.append({"name": name, "type": opt_def["type"], "value": converted})
        if focused is None:
            missing = [d["name"] for d in defs if d.get("required") and d["name"] not in options]
            if missing:
                raise ValueError(f"Discord would not send {where} without {missing}")
        return out

    def command_data(
        self, command: str, options: Mapping[str, Any], focused: str | None
    ) -> dict[str, Any]:
        words = command.strip().lstrip("/").split()
        cmd = self._find_command(words[0])
        resolved: dict[str, Any] = {}
        defs = cmd.get("options") or []
        where = f"/{words[0]}"
        path: list[tuple[int, str]] = []
        for word in words[1:]:
            sub = next((d for d in defs if d["name"] == word and d["type"] in (1, 2)), None)
            if sub is None:
                raise ValueError(f"{where} has no sub-command {word!r}")
            path.append((sub["type"], word))
            defs = sub.get("options") or []
            where += f" {word}"
        if any(d["type"] in (1, 2) for d in defs):
            raise ValueError(f"{where} needs a sub-command")
        opts = self._build_options(defs, options, focused=focused, resolved=resolved, where=where)
        for stype, name in reversed(path):
            opts = [{"name": name, "type": stype, "options": opts}]
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": cmd["name"],
            "type": 1,
            "options": opts,
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    def inject(
        self,
        *,
        user: FakeUser | int,
        channel_id: int,
        kind: int,
        command: str | None,
        options: Mapping[str, Any] | None,
        focused: str | None,
        custom_id: str | None,
        component_type: int,
        values: list[str] | None,
        message_id: int | None,
        check_permissions: bool,
        deadline: float,
    ) -> InteractionHandle:
        fake = self.fake
        model = fake.model
        user_id = user.id if isinstance(user, FakeUser) else int(user)
        if user_id not in model.members:
            raise ValueError(f"user {user_id} is not a member of the fake guild")
        if channel_id not in model.channels:
            raise ValueError(f"channel {channel_id} does not exist")
        member_perms = model.permissions_in(channel_id, user_id)
        if check_permissions and not member_perms & P.VIEW_CHANNEL:
            raise PermissionError(f"user {user_id} cannot see channel {channel_id}")
        if (
            check_permissions
            and kind != MESSAGE_COMPONENT
            and not member_perms & P.USE_APPLICATION_COMMANDS
        ):
            raise PermissionError(f"user {user_id} lacks USE_APPLICATION_COMMANDS there")
        data: dict[str, Any]
        message: dict[str, Any] | None = None
        if kind in (APPLICATION_COMMAND, AUTOCOMPLETE):
            if command is None:
                raise ValueError("a command interaction needs `command`")
            if kind == AUTOCOMPLETE and focused is None:
                raise ValueError("an autocomplete interaction needs `focused`")
            data = self.command_data(
                command, options or {}, focused if kind == AUTOCOMPLETE else None
            )
            cmd = self._find_command(data["name"])
            needed = cmd.get("default_member_permissions")
            if check_permissions and needed is not None:
                needed_bits = int(needed)
                have = model.base_permissions(user_id)
                if (have & needed_bits) != needed_bits or (
                    needed_bits == 0 and not have & P.ADMINISTRATOR
                ):
                    raise PermissionError(
                        f"Discord hides /{data['name']} from user {user_id} "
                        f"(default_member_permissions={needed}); pass check_permissions=False "
                        "to model a server that overrode it"
                    )
        elif kind == MESSAGE_COMPONENT:
            if message_id is None or custom_id is None:
                raise ValueError("a component interaction needs `message_id` and `custom_id`")
            stored = model.message_index.get(message_id)
            if stored is None or int(stored["channel_id"]) != channel_id:
                raise ValueError(f"message {message_id} is not in channel {channel_id}")
            if custom_id not in [
                c.get("custom_id") for c in _walk_components(stored["components"])
            ]:
                raise ValueError(f"message {message_id} has no component {custom_id!r}")
            message = stored
            data = {"custom_id": custom_id, "component_type": component_type}
            if values is not None:
                data["values"] = list(values)
        else:
            raise ValueError(f"unsupported interaction type {kind}")
        iid = model.ids.next()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        channel = model.channel_payload(channel_id) | {"permissions": str(member_perms)}
        member = model.member_payload(user_id) | {"permissions": str(member_perms)}
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(fake.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(model.id),
            "guild": {"id": str(model.id), "locale": "en-US", "features": []},
            "channel_id": str(channel_id),
            "channel": channel,
            "member": member,
            "token": token,
            "version": 1,
            "app_permissions": str(model.permissions_in(channel_id, fake.bot_user.id)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(model.id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        handle = InteractionHandle(
            id=iid,
            token=token,
            type=kind,
            payload=payload,
            channel_id=channel_id,
            user_id=user_id,
            created=time.monotonic(),
            deadline=deadline,
            command=None if command is None else command.strip().lstrip("/"),
            original=message if kind == MESSAGE_COMPONENT else None,
            _fake=fake,
        )
        self.handles[iid] = handle
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(deadline + 0.01, fake._changed))
        fake.gateway.dispatch("INTERACTION_CREATE", payload, intent=None)
        return handle
