"""Answers kept for a retried write (`Idempotency-Key`, DESIGN §3), in the store itself.

A client that lost the answer to a write sends it again with the same key. Kept
only in a server's memory, the first answer was gone after a restart, and on
another `calendar serve` of the same database it was never there: a create was
applied twice (a series twice is two wakes a day), and a `complete` came back 409
although it was kept. Here it lives in the calendar's `replays` table, beside
what it answers, for `REPLAY_TTL_S`.

The answer is kept in a transaction after the write's own: a process that dies
between the two commits (milliseconds) still answers a retry by running it
again. `start` never comes here: its key is the claim key, which the write keeps
in the slot itself (`bot.calendar.store.transitions`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import aiosqlite

from bot.calendar.store.rows import to_us
from bot.core.clock import Clock

T = TypeVar("T")

#: How long an answer is replayed; a client retries within seconds, a restart within minutes.
REPLAY_TTL_S = 600.0


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """A write's first successful answer; `fingerprint` is of the request it answered."""

    fingerprint: str
    status: int
    body: bytes


_FIND = (
    "SELECT fingerprint, status, body FROM replays "
    "WHERE caller = ? AND idempotency_key = ? AND created_at_us >= ?"
)
_EXPIRE = "DELETE FROM replays WHERE created_at_us < ?"
_KEEP = (
    "INSERT INTO replays (caller, idempotency_key, fingerprint, status, body, created_at_us) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (caller, idempotency_key) DO UPDATE SET "
    "fingerprint = excluded.fingerprint, status = excluded.status, body = excluded.body, "
    "created_at_us = excluded.created_at_us"
)


class ReplayCalls:
    """`earlier_answer` / `keep_answer` on `EmbeddedCalendar`'s connection and clock (and so
    on PostgreSQL's, which is the same store)."""

    _clock: Clock

    async def _read_step(self, step: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        raise NotImplementedError

    async def _write_step(self, step: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        raise NotImplementedError

    def _replay_horizon_us(self) -> int:
        return to_us(self._clock.now() - timedelta(seconds=REPLAY_TTL_S))

    async def earlier_answer(self, caller: str, key: str) -> KeptAnswer | None:
        """The answer kept for `caller`'s `key` within `REPLAY_TTL_S`, if any."""
        since = self._replay_horizon_us()

        async def find(db: aiosqlite.Connection) -> KeptAnswer | None:
            rows = list(await db.execute_fetchall(_FIND, (caller, key, since)))
            if not rows:
                return None
            fingerprint, status, body = rows[0]
            return KeptAnswer(str(fingerprint), int(status), bytes(body))

        return await self._read_step(find)

    async def keep_answer(self, caller: str, key: str, answer: KeptAnswer) -> None:
        """Keep `answer` for `caller`'s `key`; answers older than `REPLAY_TTL_S` go."""
        now, horizon = to_us(self._clock.now()), self._replay_horizon_us()
        row = (caller, key, answer.fingerprint, answer.status, answer.body, now)

        async def keep(db: aiosqlite.Connection) -> None:
            await db.execute(_EXPIRE, (horizon,))
            await db.execute(_KEEP, row)

        await self._write_step(keep)
