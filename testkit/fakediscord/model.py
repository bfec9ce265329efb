"""The one guild the fake Discord serves: users, roles, members, channels, messages.

Payload builders produce what Discord documents for each object, because
discord.py's parsers (and the project's code on top of them) only ever see
these dicts; a field that Discord always sends and the fake leaves out would
hide a crash that production would hit.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from testkit.fakediscord.perms import (
    MEMBER_OVERWRITE,
    ROLE_OVERWRITE,
    Overwrite,
    P,
    base_permissions,
    channel_permissions,
)

DISCORD_EPOCH_MS = 1420070400000

TEXT = 0
CATEGORY = 4
GUILD_TEXT_LIKE = {0, 5}
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREAD_TYPES = {PUBLIC_THREAD, PRIVATE_THREAD}
#: Where a message may be posted: text-like channels and threads.
MESSAGEABLE = GUILD_TEXT_LIKE | THREAD_TYPES


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Snowflakes:
    """Real-looking, strictly increasing snowflakes (discord.py reads their time)."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
            candidate = (ms << 22) | (1 << 17)
            value = max(candidate, self._last + 1)
            self._last = value
            return value


@dataclass
class FakeUser:
    """A Discord user in the fake guild; `.id` is what tests pass around."""

    id: int
    name: str
    bot: bool = False
    global_name: str | None = None

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
        }


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int
    managed: bool = False
    bot_id: int | None = None
    mentionable: bool = False

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    def payload(self) -> dict[str, Any]:
        tags: dict[str, Any] = {}
        if self.bot_id is not None:
            tags["bot_id"] = str(self.bot_id)
        return {
            "id": str(self.id),
            "name": self.name,
            "description": None,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
            "tags": tags,
        }


@dataclass
class FakeMember:
    user: FakeUser
    roles: list[int]
    joined_at: str = field(default_factory=now_iso)
    nick: str | None = None

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in self.roles],
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class FakeChannel:
    id: int
    type: int
    name: str
    position: int
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    rate_limit_per_user: int = 0
    overwrites: list[Overwrite] = field(default_factory=list)
    last_message_id: int | None = None

    def payload(self, guild_id: int | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [ow.to_payload() for ow in self.overwrites],
            "parent_id": None if self.parent_id is None else str(self.parent_id),
            "flags": 0,
        }
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        if self.type != CATEGORY:
            data.update(
                {
                    "topic": self.topic,
                    "nsfw": self.nsfw,
                    "rate_limit_per_user": self.rate_limit_per_user,
                    "last_message_id": (
                        None if self.last_message_id is None else str(self.last_message_id)
                    ),
                }
            )
        return data


@dataclass
class FakeThread(FakeChannel):
    """A thread in a text channel (`parent_id`): no overwrites or position of its own.

    Who may see and post in it follows its parent (`GuildModel.permissions_in`); a
    private thread is seen only by its members and those who may manage threads.
    Kept apart from the guild's channels (`GuildModel.threads`): Discord lists
    threads neither in the guild's channel list nor against its channel caps.
    """

    owner_id: int = 0
    member_ids: set[int] = field(default_factory=set)
    created_at: str = field(default_factory=now_iso)
    message_count: int = 0
    auto_archive_duration: int = 1440

    def payload(self, guild_id: int | None) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "archived": False,
            "archive_timestamp": self.created_at,
            "auto_archive_duration": self.auto_archive_duration,
            "locked": False,
            "create_timestamp": self.created_at,
        }
        if self.type == PRIVATE_THREAD:
            metadata["invitable"] = True
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "parent_id": str(self.parent_id),
            "owner_id": str(self.owner_id),
            "last_message_id": None if self.last_message_id is None else str(self.last_message_id),
            "rate_limit_per_user": self.rate_limit_per_user,
            "flags": 0,
            "thread_metadata": metadata,
            "message_count": self.message_count,
            "member_count": min(len(self.member_ids), 50),
            "total_message_sent": self.message_count,
        }
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        return data


_MENTION_USER = re.compile(r"<@!?(\d+)>")
_MENTION_ROLE = re.compile(r"<@&(\d+)>")


def _mentioned_ids(pattern: re.Pattern[str], content: str) -> list[int]:
    """The ids `pattern` finds in `content`, each once, in order of first mention."""
    return list(dict.fromkeys(int(m.group(1)) for m in pattern.finditer(content or "")))


def mentioned_user_ids(content: str) -> list[int]:
    return _mentioned_ids(_MENTION_USER, content)


def mentioned_role_ids(content: str) -> list[int]:
    return _mentioned_ids(_MENTION_ROLE, content)


def normalize_text_channel_name(name: str) -> str:
    """Discord lowercases text channel names and turns whitespace into dashes."""
    return re.sub(r"\s+", "-", name.strip()).lower()


class GuildModel:
    """State of the single guild, and Discord's permission arithmetic over it."""

    def __init__(self, *, guild_id: int, name: str, snowflakes: Snowflakes) -> None:
        self.id = guild_id
        self.name = name
        self.ids = snowflakes
        self.owner_id = 0
        self.users: dict[int, FakeUser] = {}
        self.members: dict[int, FakeMember] = {}
        self.roles: dict[int, FakeRole] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.threads: dict[int, FakeThread] = {}
        self.messages: dict[int, list[dict[str, Any]]] = {}
        self.message_index: dict[int, dict[str, Any]] = {}
        self._positions = itertools.count(1)

    # -- people and roles -------------------------------------------------------
    def add_user(self, name: str, *, bot: bool, member: bool = True) -> FakeUser:
        user = FakeUser(id=self.ids.next(), name=name, bot=bot)
        self.users[user.id] = user
        if member:
            self.members[user.id] = FakeMember(user=user, roles=[])
        return user

    def add_role(
        self,
        name: str,
        permissions: int,
        *,
        managed: bool = False,
        bot_id: int | None = None,
        role_id: int | None = None,
    ) -> FakeRole:
        rid = role_id if role_id is not None else self.ids.next()
        position = 0 if rid == self.id else len(self.roles)
        role = FakeRole(
            id=rid,
            name=name,
            permissions=int(permissions),
            position=position,
            managed=managed,
            bot_id=bot_id,
        )
        self.roles[rid] = role
        return role

    def role_permissions(self) -> dict[int, int]:
        return {rid: role.permissions for rid, role in self.roles.items()}

    def member_roles(self, user_id: int) -> list[int]:
        member = self.members.get(user_id)
        return list(member.roles) if member else []

    # -- permissions -----------------------------------------------------------
    def base_permissions(self, user_id: int) -> int:
        if user_id not in self.members:
            return 0
        return base_permissions(
            guild_id=self.id,
            owner_id=self.owner_id,
            user_id=user_id,
            member_role_ids=self.member_roles(user_id),
            role_permissions=self.role_permissions(),
        )

    def channel_or_thread(self, channel_id: int) -> FakeChannel | None:
        """What a message's `channel_id` may name: a guild channel or a thread."""
        return self.channels.get(channel_id) or self.threads.get(channel_id)

    def send_permission(self, channel_id: int) -> int:
        """What posting needs there: Send Messages, or in a thread Send Messages in Threads."""
        return P.SEND_MESSAGES_IN_THREADS if channel_id in self.threads else P.SEND_MESSAGES

    def permissions_in(self, channel_id: int, user_id: int) -> int:
        thread = self.threads.get(channel_id)
        if thread is not None:
            return self._thread_permissions(thread, user_id)
        channel = self.channels.get(channel_id)
        if channel is None or user_id not in self.members:
            return 0
        return channel_permissions(
            self.base_permissions(user_id),
            guild_id=self.id,
            user_id=user_id,
            member_role_ids=self.member_roles(user_id),
            overwrites=channel.overwrites,
            is_text=channel.type in GUILD_TEXT_LIKE,
        )

    def _thread_permissions(self, thread: FakeThread, user_id: int) -> int:
        """A thread has no permissions of its own: its parent's apply. A private one is
        hidden from everyone but its members and those who may manage threads."""
        assert thread.parent_id is not None
        perms = self.permissions_in(thread.parent_id, user_id)
        if (
            thread.type == PRIVATE_THREAD
            and user_id not in thread.member_ids
            and not perms & P.MANAGE_THREADS
        ):
            return 0
        return perms

    def role_permissions_in(self, channel_id: int, role_id: int) -> int:
        """What a member holding only `role_id` (plus @everyone) gets in a channel."""
        channel = self.channels[channel_id]
        roles = [] if role_id == self.id else [role_id]
        base = base_permissions(
            guild_id=self.id,
            owner_id=self.owner_id,
            user_id=-1,
            member_role_ids=roles,
            role_permissions=self.role_permissions(),
        )
        return channel_permissions(
            base,
            guild_id=self.id,
            user_id=-1,
            member_role_ids=roles,
            overwrites=channel.overwrites,
            is_text=channel.type in GUILD_TEXT_LIKE,
        )

    def overwrite_mismatches(self, overwrites: list[Overwrite]) -> list[str]:
        """Overwrites whose `type` does not fit their id (Discord accepts them silently)."""
        notes = []
        for ow in overwrites:
            if ow.type == MEMBER_OVERWRITE and ow.id in self.roles:
                who = "@everyone" if ow.id == self.id else f"role {self.roles[ow.id].name!r}"
                notes.append(
                    f"member overwrite (type 1) names {who} ({ow.id}); it applies to no one"
                )
            elif ow.type == ROLE_OVERWRITE and ow.id not in self.roles:
                who = self.users[ow.id].name if ow.id in self.users else "an unknown id"
                notes.append(f"role overwrite (type 0) names {who} ({ow.id}); it applies to no one")
        return notes

    # -- payloads ----------------------------------------------------------------
    def guild_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [role.payload() for role in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "safety_alerts_channel_id": None,
            "incidents_data": None,
        }

    def channel_payload(self, channel_id: int, *, with_guild_id: bool = True) -> dict[str, Any]:
        """A channel's or a thread's payload (a thread always carries its guild_id)."""
        thread = self.threads.get(channel_id)
        if thread is not None:
            return thread.payload(self.id)
        return self.channels[channel_id].payload(self.id if with_guild_id else None)

    def member_payload(self, user_id: int, *, with_user: bool = True) -> dict[str, Any]:
        return self.members[user_id].payload(with_user=with_user)

    def children_of(self, category_id: int) -> list[FakeChannel]:
        return [c for c in self.channels.values() if c.parent_id == category_id]

    def next_position(self) -> int:
        return next(self._positions)
