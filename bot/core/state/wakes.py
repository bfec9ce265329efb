"""The wake ledger: per slot, the intent to wake, the claim and the result.

The intent is written *before* any side effect, with the claim's
`expected_version` and its *claim key*. The claim key goes to the calendar with
the `start`, which keeps it with the slot while it is held; so a restart (or a
retry after a lost answer) re-sends that same `start` and the calendar's 200 or
409 says whose the slot is. A restart reads the entries that have an intent but
no result and finishes them without waking anything twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.state.database import StateDatabase, from_optional_stamp, from_stamp, to_stamp
from bot.core.waker import WakeResult


@dataclass(frozen=True, slots=True)
class WakeEntry:
    """One slot's line in the wake ledger.

    `result_at is None` means the wake was started but never finished: the
    process died somewhere between the intent and the result. `result` is the
    waker's answer as recorded then (the chain's attempts are not kept).
    """

    slot_id: str
    agent_id: str
    expected_version: int
    intent_at: datetime
    claimed_version: int | None = None
    claimed_at: datetime | None = None
    result_at: datetime | None = None
    result: WakeResult | None = None
    attempts: int = 1
    activity_at: datetime | None = None
    nudged_at: datetime | None = None
    #: Sent with the claim's `start`; the calendar answers a repeat of it 200 while the
    #: slot is held by this claim. Every entry has one (an upgraded file's got a fresh one).
    claim_key: str = ""

    @property
    def unfinished(self) -> bool:
        return self.result_at is None

    @property
    def claimed(self) -> bool:
        return self.claimed_version is not None


class WakeLedger(StateDatabase):
    """The wake-ledger part of the state store."""

    _WAKE_COLS = (
        "slot_id, agent_id, expected_version, intent_at, claimed_version, claimed_at, "
        "result_at, ok, via, reference, error, attempts, activity_at, nudged_at, claim_key"
    )

    @staticmethod
    def _wake(row: Sequence[Any]) -> WakeEntry:
        return WakeEntry(
            slot_id=row[0],
            agent_id=row[1],
            expected_version=int(row[2]),
            intent_at=from_stamp(row[3]),
            claimed_version=int(row[4]) if row[4] is not None else None,
            claimed_at=from_optional_stamp(row[5]),
            result_at=from_optional_stamp(row[6]),
            result=None if row[7] is None else WakeResult(bool(row[7]), row[8], row[9], row[10]),
            attempts=int(row[11]),
            activity_at=from_optional_stamp(row[12]),
            nudged_at=from_optional_stamp(row[13]),
            claim_key=row[14] or "",
        )

    async def record_intent(
        self, slot_id: str, agent_id: str, expected_version: int, *, claim_key: str | None = None
    ) -> str:
        """Before the claim: "I am about to claim `slot_id` at `expected_version` and wake it".

        Answers the claim key to send with the `start` (`claim_key`, or a fresh
        one). An unfinished intent for the same slot and version is the same
        claim attempt and keeps its key, so a claim that landed late is still
        recognised as ours. A slot released after a failed wake is woken again
        later; its new intent replaces the finished entry, with a new key, and
        counts the attempt.
        """
        now = self._now()
        fresh = claim_key or uuid.uuid4().hex
        # The key read back in the same round: one commit and one trip per intent.
        rows = await self._write_then_read(
            [
                (
                    "INSERT INTO wakes (slot_id, agent_id, expected_version, intent_at, claim_key) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(slot_id) DO UPDATE SET "
                    "claim_key = CASE WHEN wakes.result_at IS NULL "
                    "AND wakes.expected_version = excluded.expected_version "
                    "AND wakes.claim_key IS NOT NULL THEN wakes.claim_key "
                    "ELSE excluded.claim_key END, "
                    "agent_id = excluded.agent_id, expected_version = excluded.expected_version, "
                    "intent_at = excluded.intent_at, claimed_version = NULL, claimed_at = NULL, "
                    "result_at = NULL, ok = NULL, via = NULL, reference = NULL, error = NULL, "
                    "attempts = wakes.attempts + 1, activity_at = NULL, nudged_at = NULL",
                    (slot_id, agent_id, expected_version, now, fresh),
                ),
                ("SELECT claim_key FROM wakes WHERE slot_id = ?", (slot_id,)),
            ]
        )
        return str(rows[0][0]) if rows else fresh

    async def record_claim(self, slot_id: str, claimed_version: int) -> None:
        """The calendar accepted our `start`: the slot is ours at `claimed_version`."""
        now = self._now()
        await self._write_one(
            "UPDATE wakes SET claimed_version = ?, claimed_at = ?, activity_at = ? "
            "WHERE slot_id = ?",
            (claimed_version, now, now, slot_id),
        )

    async def record_result(self, slot_id: str, result: WakeResult) -> None:
        now = self._now()
        await self._write_one(
            "UPDATE wakes SET result_at = ?, ok = ?, via = ?, reference = ?, error = ?, "
            "activity_at = COALESCE(activity_at, ?) WHERE slot_id = ?",
            (now, int(result.ok), result.via, result.reference, result.error, now, slot_id),
        )

    async def record_releasing(self, slot_id: str) -> None:
        """About to give back a claimed slot whose wake failed: the claim is no longer a fact.

        Written before the `release`, so a crash after it is recovered through the
        claim key (re-sent `start`: 200 only if the slot is still held by our
        claim) rather than as "ours, held", which another moderator's claim of
        the released slot could by then have made untrue.
        """
        await self._write_one(
            "UPDATE wakes SET claimed_version = NULL, claimed_at = NULL "
            "WHERE slot_id = ? AND result_at IS NULL",
            (slot_id,),
        )

    async def drop_intent(self, slot_id: str) -> None:
        """Forget an unfinished intent whose claim never happened (normal flow retries)."""
        await self._write_one(
            "DELETE FROM wakes WHERE slot_id = ? AND result_at IS NULL", (slot_id,)
        )

    async def record_activity(self, slot_id: str, at: datetime | None = None) -> None:
        """The agent showed life (reply, progress): the stuck-slot silence starts again."""
        stamp = to_stamp(at) if at is not None else self._now()
        await self._write_one(
            "UPDATE wakes SET activity_at = ?, nudged_at = NULL WHERE slot_id = ?", (stamp, slot_id)
        )

    async def record_nudge(self, slot_id: str) -> None:
        await self._write_one(
            "UPDATE wakes SET nudged_at = ? WHERE slot_id = ?", (self._now(), slot_id)
        )

    async def wake_entry(self, slot_id: str) -> WakeEntry | None:
        rows = await self._rows(
            f"SELECT {self._WAKE_COLS} FROM wakes WHERE slot_id = ?", (slot_id,)
        )
        return self._wake(rows[0]) if rows else None

    async def unfinished_wakes(self) -> list[WakeEntry]:
        """Intents without a result: what a crash left half done, oldest first."""
        rows = await self._rows(
            f"SELECT {self._WAKE_COLS} FROM wakes WHERE result_at IS NULL ORDER BY intent_at"
        )
        return [self._wake(r) for r in rows]
