"""What the state keeps per agent: its session deferrals and how its last sync went.

Deferrals (agent -> slot ids deferred while it stayed busy) survive a restart
so the same slot is not deferred again; the last sync (time, ok/error,
consecutive failures) is what `/status` shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.state.database import StateDatabase, from_optional_stamp, from_stamp, to_stamp


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """How the last sync of one agent went; `last_ok_at` survives later failures."""

    agent_id: str
    attempt_at: datetime
    ok: bool
    error: str | None
    last_ok_at: datetime | None
    consecutive_failures: int


class AgentSessions(StateDatabase):
    """The deferral and sync part of the state store."""

    async def add_deferrals(self, agent_id: str, slot_ids: Iterable[str]) -> None:
        ids = list(slot_ids)
        if not ids:
            return
        await self._write(
            [
                (
                    "INSERT OR IGNORE INTO deferrals (agent_id, slot_id) VALUES (?, ?)",
                    (agent_id, slot_id),
                )
                for slot_id in ids
            ]
        )

    async def add_deferral(self, agent_id: str, slot_id: str) -> None:
        await self.add_deferrals(agent_id, [slot_id])

    async def remove_deferral(self, agent_id: str, slot_id: str) -> None:
        await self._write_one(
            "DELETE FROM deferrals WHERE agent_id = ? AND slot_id = ?", (agent_id, slot_id)
        )

    async def deferrals(self, agent_id: str) -> set[str]:
        rows = await self._rows("SELECT slot_id FROM deferrals WHERE agent_id = ?", (agent_id,))
        return {r[0] for r in rows}

    async def all_deferrals(self) -> dict[str, set[str]]:
        rows = await self._rows("SELECT agent_id, slot_id FROM deferrals")
        out: dict[str, set[str]] = {}
        for agent_id, slot_id in rows:
            out.setdefault(agent_id, set()).add(slot_id)
        return out

    async def clear_deferrals(self, agent_id: str) -> None:
        """The agent is idle again: its session is over."""
        await self._write_one("DELETE FROM deferrals WHERE agent_id = ?", (agent_id,))

    # ---- last sync -----------------------------------------------------

    _SYNC_COLS = "agent_id, attempt_at, ok, error, last_ok_at, consecutive_failures"

    @staticmethod
    def _sync(row: Sequence[Any]) -> SyncRecord:
        return SyncRecord(
            agent_id=row[0],
            attempt_at=from_stamp(row[1]),
            ok=bool(row[2]),
            error=row[3],
            last_ok_at=from_optional_stamp(row[4]),
            consecutive_failures=int(row[5]),
        )

    async def record_sync(
        self, agent_id: str, *, ok: bool, error: str | None = None, at: datetime | None = None
    ) -> SyncRecord:
        stamp = to_stamp(at) if at is not None else self._now()
        if ok:
            sql = (
                "INSERT INTO syncs (agent_id, attempt_at, ok, error, last_ok_at, "
                "consecutive_failures) VALUES (?, ?, 1, NULL, ?, 0) "
                "ON CONFLICT(agent_id) DO UPDATE SET attempt_at = excluded.attempt_at, ok = 1, "
                "error = NULL, last_ok_at = excluded.last_ok_at, consecutive_failures = 0"
            )
            params: tuple[Any, ...] = (agent_id, stamp, stamp)
        else:
            sql = (
                "INSERT INTO syncs (agent_id, attempt_at, ok, error, last_ok_at, "
                "consecutive_failures) VALUES (?, ?, 0, ?, NULL, 1) "
                "ON CONFLICT(agent_id) DO UPDATE SET attempt_at = excluded.attempt_at, ok = 0, "
                "error = excluded.error, consecutive_failures = syncs.consecutive_failures + 1"
            )
            params = (agent_id, stamp, error)
        rows = await self._write_then_read(
            [
                (sql, params),
                (f"SELECT {self._SYNC_COLS} FROM syncs WHERE agent_id = ?", (agent_id,)),
            ]
        )
        return self._sync(rows[0])

    async def last_sync(self, agent_id: str) -> SyncRecord | None:
        rows = await self._rows(
            f"SELECT {self._SYNC_COLS} FROM syncs WHERE agent_id = ?", (agent_id,)
        )
        return self._sync(rows[0]) if rows else None

    async def all_syncs(self) -> dict[str, SyncRecord]:
        rows = await self._rows(f"SELECT {self._SYNC_COLS} FROM syncs")
        return {r[0]: self._sync(r) for r in rows}
