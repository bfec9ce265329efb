"""The channel links (slot -> private channel): the `ChannelLedger` kept in the state file.

The Discord waker writes them, the reply listener reads a message's slot from
them, and the janitor deletes a channel some time after its slot ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.core.state.database import StateDatabase, from_optional_stamp, to_stamp
from bot.core.waker import ChannelLink


class ChannelLinks(StateDatabase):
    """The `ChannelLedger` part of the state store."""

    _LINK_COLS = "slot_id, agent_id, channel_id, message_id, ended_at"

    @staticmethod
    def _link(row: Sequence[Any]) -> ChannelLink:
        return ChannelLink(
            slot_id=row[0],
            agent_id=row[1],
            channel_id=int(row[2]),
            message_id=int(row[3]) if row[3] is not None else None,
            ended_at=from_optional_stamp(row[4]),
        )

    async def channel_link(self, slot_id: str) -> ChannelLink | None:
        rows = await self._rows(
            f"SELECT {self._LINK_COLS} FROM channel_links WHERE slot_id = ?", (slot_id,)
        )
        return self._link(rows[0]) if rows else None

    async def link_by_channel(self, channel_id: int) -> ChannelLink | None:
        rows = await self._rows(
            f"SELECT {self._LINK_COLS} FROM channel_links WHERE channel_id = ?", (channel_id,)
        )
        return self._link(rows[0]) if rows else None

    async def save_channel(self, slot_id: str, agent_id: str, channel_id: int) -> None:
        """Link a slot to its channel; a new channel for the slot replaces the old link."""
        await self._write_one(
            "INSERT INTO channel_links (slot_id, agent_id, channel_id) VALUES (?, ?, ?) "
            "ON CONFLICT(slot_id) DO UPDATE SET agent_id = excluded.agent_id, "
            "channel_id = excluded.channel_id, message_id = NULL, ended_at = NULL "
            "WHERE channel_links.channel_id != excluded.channel_id",
            (slot_id, agent_id, channel_id),
        )

    async def save_message(self, slot_id: str, message_id: int) -> None:
        await self._write_one(
            "UPDATE channel_links SET message_id = ? WHERE slot_id = ?", (message_id, slot_id)
        )

    async def mark_ended(self, slot_id: str, at: datetime) -> None:
        """First end wins: a later duplicate (sync after reply) keeps the retention clock."""
        await self._write_one(
            "UPDATE channel_links SET ended_at = ? WHERE slot_id = ? AND ended_at IS NULL",
            (to_stamp(at), slot_id),
        )

    async def ended_links(self, before: datetime) -> list[ChannelLink]:
        rows = await self._rows(
            f"SELECT {self._LINK_COLS} FROM channel_links "
            "WHERE ended_at IS NOT NULL AND ended_at < ? ORDER BY ended_at, slot_id",
            (to_stamp(before),),
        )
        return [self._link(r) for r in rows]

    async def all_links(self) -> list[ChannelLink]:
        rows = await self._rows(f"SELECT {self._LINK_COLS} FROM channel_links ORDER BY slot_id")
        return [self._link(r) for r in rows]

    async def forget_channel(self, slot_id: str) -> None:
        await self._write_one("DELETE FROM channel_links WHERE slot_id = ?", (slot_id,))
