"""Discord permission bits and the permission computation Discord documents.

Kept free of aiohttp and discord.py so the rules can be read (and tested) on
their own: the fake's verdicts on "who can see this channel" are only worth
something if the algorithm is Discord's, not discord.py's.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class P(enum.IntFlag):
    """Permission bits (https://discord.com/developers/docs/topics/permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EMBEDDED_ACTIVITIES = 1 << 39
    MODERATE_MEMBERS = 1 << 40
    VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41
    USE_SOUNDBOARD = 1 << 42
    CREATE_GUILD_EXPRESSIONS = 1 << 43
    CREATE_EVENTS = 1 << 44
    USE_EXTERNAL_SOUNDS = 1 << 45
    SEND_VOICE_MESSAGES = 1 << 46
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50
    PIN_MESSAGES = 1 << 51
    BYPASS_SLOWMODE = 1 << 52


ALL_PERMISSIONS = 0
for _flag in P:
    ALL_PERMISSIONS |= int(_flag)

# What the issue asks the moderator to hold (README: Manage Roles is NOT needed).
DEFAULT_BOT_PERMISSIONS = (
    P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.READ_MESSAGE_HISTORY
    | P.MANAGE_CHANNELS
    | P.EMBED_LINKS
    | P.ADD_REACTIONS
)

# Deliberately smaller than Discord's real @everyone default, so that the bot's
# effective guild permissions are (nearly) exactly what a test configures.
DEFAULT_EVERYONE_PERMISSIONS = (
    P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.READ_MESSAGE_HISTORY
    | P.ADD_REACTIONS
    | P.USE_APPLICATION_COMMANDS
)

ROLE_OVERWRITE = 0
MEMBER_OVERWRITE = 1


@dataclass(frozen=True)
class Overwrite:
    """One permission overwrite as Discord stores it (`type` 0 = role, 1 = member)."""

    id: int
    type: int
    allow: int
    deny: int

    def to_payload(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


def base_permissions(
    *,
    guild_id: int,
    owner_id: int,
    user_id: int,
    member_role_ids: Iterable[int],
    role_permissions: Mapping[int, int],
) -> int:
    """Guild-level permissions: @everyone OR the member's roles; owner and admins get all."""
    if user_id == owner_id:
        return ALL_PERMISSIONS
    perms = role_permissions.get(guild_id, 0)
    for role_id in member_role_ids:
        perms |= role_permissions.get(role_id, 0)
    if perms & P.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return perms


def channel_permissions(
    base: int,
    *,
    guild_id: int,
    user_id: int,
    member_role_ids: Iterable[int],
    overwrites: Iterable[Overwrite],
    is_text: bool = True,
) -> int:
    """Apply a channel's overwrites the documented way.

    Order: @everyone overwrite, then all role overwrites of the member's roles
    together, then the member's own overwrite. An overwrite only counts when its
    `type` matches what its id names: a *member* overwrite carrying the @everyone
    role id applies to nobody, which is exactly how a `discord.Object` passed in
    place of `guild.default_role` leaves a channel public.
    """
    if base & P.ADMINISTRATOR:
        return ALL_PERMISSIONS
    perms = base
    ows = list(overwrites)
    for ow in ows:
        if ow.type == ROLE_OVERWRITE and ow.id == guild_id:
            perms &= ~ow.deny
            perms |= ow.allow
    roles = set(member_role_ids)
    allow = deny = 0
    for ow in ows:
        if ow.type == ROLE_OVERWRITE and ow.id in roles and ow.id != guild_id:
            allow |= ow.allow
            deny |= ow.deny
    perms &= ~deny
    perms |= allow
    for ow in ows:
        if ow.type == MEMBER_OVERWRITE and ow.id == user_id:
            perms &= ~ow.deny
            perms |= ow.allow
    # Implicit permissions: no view means nothing; in text channels, no send
    # means none of the send-dependent rights either.
    if not perms & P.VIEW_CHANNEL:
        return 0
    if is_text and not perms & P.SEND_MESSAGES:
        perms &= ~(P.SEND_TTS_MESSAGES | P.MENTION_EVERYONE | P.EMBED_LINKS | P.ATTACH_FILES)
    return perms


def names(bits: int) -> list[str]:
    """Readable names for a bit set, for error messages and test failures."""
    return [flag.name or str(int(flag)) for flag in P if bits & flag]
