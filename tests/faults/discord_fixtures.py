"""Helpers for the Discord, crash and bad-input fault tests: the files a `python -m bot`
subprocess works on, and counts that prove "exactly once" (the spawn receiver is the
e2e harness's).

The counts look at the fake Discord itself (what an agent would see), never at
the bot's own idea of what it did: a double wake is a second channel whose
topic names the slot, or a second message carrying the slot's wake marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.state import StateStore, WakeEntry
from bot.core.waker import ChannelLink
from bot.presenters.wake_message import wake_marker
from testkit.fakediscord import FakeDiscord

GUILD_CHANNELS = "/guilds/{guild_id}/channels"
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"


# ---- what the fake Discord holds ------------------------------------------------


def wake_posts(fake: FakeDiscord, slot_id: str) -> list[dict[str, Any]]:
    """Every moderator message, in any channel, that carries the slot's wake marker."""
    me = str(fake.bot_user.id)
    marker = wake_marker(slot_id)
    return [
        msg
        for channel_id in fake.channels
        for msg in fake.messages_in(channel_id)
        if msg["author"]["id"] == me and marker in msg["content"]
    ]


def bot_texts(fake: FakeDiscord, channel_id: int) -> list[str]:
    me = str(fake.bot_user.id)
    return [m["content"] for m in fake.messages_in(channel_id) if m["author"]["id"] == me]


# ---- the subprocess's files ----------------------------------------------------------


@dataclass(frozen=True)
class Ledger:
    """What the state file says about one slot (read while no bot is running)."""

    entry: WakeEntry | None
    link: ChannelLink | None


async def ledger_of(tmp_path: Path, slot_id: str) -> Ledger:
    state = await StateStore.open(tmp_path / "state.db")
    try:
        return Ledger(await state.wake_entry(slot_id), await state.channel_link(slot_id))
    finally:
        await state.close()
