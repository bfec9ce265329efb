"""Discord's rules for wake channels: names, topics (the identity), limits and error codes.

Pure functions and constants, so they are tested without Discord: a name is
only a label (`<agent>-<slot id prefix>`, two slots may share one); the topic
carries the full slot id and is what a channel is found again by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import discord

from bot.core.models import Slot
from bot.core.series import split_occurrence_id
from bot.presenters.wake_message import TOPIC_MARK

CATEGORY_CHANNEL_LIMIT = 50
TOPIC_LIMIT = 1024
SLOT_PREFIX_LEN = 12

#: Discord's error code for a guild at its 500 channels.
MAX_GUILD_CHANNELS = 30013


def channel_name(agent_id: str, slot_id: str) -> str:
    """`<agent>-<slot id prefix>`, lowercase and valid as a Discord channel name; for an
    occurrence of a series `<agent>-<series id prefix>-<MMDD>-<HHMM>` of its nominal local
    start (DESIGN §5), so the days of one series are told apart at a glance.

    Only a label for people: two slots may get the same name, the topic decides.
    """
    occurrence = split_occurrence_id(slot_id)
    if occurrence is not None:
        series_id, nominal = occurrence
        return f"{agent_id}-{_prefix(series_id)}-{nominal:%m%d}-{nominal:%H%M}"[:100]
    return f"{agent_id}-{_prefix(slot_id)}"[:100]


def _prefix(identifier: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", identifier.lower()).strip("-_")
    return cleaned[:SLOT_PREFIX_LEN].strip("-_") or "slot"


def channel_topic(slot: Slot) -> str:
    """The slot's title and, last, its full id: the channel's identity."""
    mark = f"{TOPIC_MARK}{slot.id}"
    title = " ".join((slot.title or slot.slot_type).split())
    room = TOPIC_LIMIT - len(mark) - 3
    if room <= 0:
        return mark
    if len(title) > room:
        title = title[: room - 1] + "…"
    return f"{title} · {mark}" if title else mark


def topic_slot_id(topic: str | None) -> str | None:
    """The full slot id a wake channel's topic names (None for any other channel)."""
    if not topic:
        return None
    _, sep, tail = topic.rpartition(TOPIC_MARK)
    slot_id = tail.strip()
    return slot_id if sep and slot_id else None


def category_index(base_name: str, name: str) -> int | None:
    """1 for the wake category `base_name`, k for its overflow `<base>-k`, None for others."""
    base = base_name.casefold()
    folded = name.casefold()
    if folded == base:
        return 1
    if folded.startswith(base + "-"):
        suffix = folded[len(base) + 1 :]
        if suffix.isdigit() and int(suffix) >= 2:
            return int(suffix)
    return None


def is_category_full(exc: discord.HTTPException) -> bool:
    """Discord's answer for a 51st channel in a category (a form error on parent_id)."""
    text = str(exc.text)
    return exc.status == 400 and (
        "CHANNEL_PARENT_MAX_CHANNELS" in text or "channels in category" in text.lower()
    )


def perm_names(names: Iterable[str]) -> str:
    """Permission attributes as Discord's UI shows them (`manage_channels` -> Manage Channels)."""
    return ", ".join(name.replace("_", " ").title() for name in names)


def guild_full_text(guild_id: int, slot_id: str | None) -> str:
    """Why a channel (or a category, `slot_id` None) could not be made in a full guild."""
    what = f"the channel of slot {slot_id}" if slot_id else "a wake category"
    return (
        f"guild {guild_id} has reached Discord's limit of 500 channels "
        f"(error {MAX_GUILD_CHANNELS}), so {what} could not be made; delete unused "
        "channels (ended wake channels go after CHANNEL_RETENTION_S)"
    )
