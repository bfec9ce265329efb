"""Helpers for the Discord, crash and bad-input fault tests: the files a `python -m bot`
subprocess works on, and counts that prove "exactly once" (the spawn receiver is the
e2e harness's).

The counts look at the fake Discord itself (what an agent would see), never at
the bot's own idea of what it did: a double wake is a second channel whose
topic names the slot, or a second message carrying the slot's wake marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.models import Slot, SlotCreate, SlotStatus
from bot.state import StateStore, WakeEntry
from bot.wakers.base import ChannelLink
from bot.wakers.channel import topic_slot_id, wake_marker
from tests.e2e.harness import open_calendar_file
from tests.fakediscord import FakeDiscord

GUILD_CHANNELS = "/guilds/{guild_id}/channels"
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"


# ---- what the fake Discord holds ------------------------------------------------


def slot_channels(fake: FakeDiscord, slot_id: str) -> list[int]:
    """Text channels whose topic names `slot_id` (the channel's identity), oldest first."""
    return sorted(
        int(ch["id"])
        for ch in fake.channels.values()
        if ch["type"] == 0 and topic_slot_id(ch.get("topic")) == slot_id
    )


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


async def due_slot(tmp_path: Path, agent: str, title: str, prompt: str = "Do the thing.") -> Slot:
    """A slot due a second ago, written to the calendar file before the bot starts."""
    calendar = await open_calendar_file(tmp_path)
    try:
        return await calendar.create_slot(
            SlotCreate(
                agent_id=agent,
                scheduled_at=datetime.now(UTC) - timedelta(seconds=1),
                title=title,
                prompt=prompt,
            )
        )
    finally:
        await calendar.close()


async def slot_in_file(tmp_path: Path, slot_id: str) -> Slot:
    calendar = await open_calendar_file(tmp_path)
    try:
        return await calendar.get_slot(slot_id)
    finally:
        await calendar.close()


async def status_in_file(tmp_path: Path, slot_id: str) -> SlotStatus:
    return (await slot_in_file(tmp_path, slot_id)).status


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
