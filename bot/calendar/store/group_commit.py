"""Group commit: the calendar's writes that arrive while a commit is in flight share the next.

The same idea as the state file's (`bot.core.state.group_commit`), for the
embedded calendar. In a burst of wakes every agent claims at once (a `start`
each) and then heartbeats; one transaction per write, each several trips to
the connection's thread behind the store's one lock, queued the writers
behind one another on an event loop busy with the burst.

Here a write is a step (`in_thread.Step`: what the transaction does, written
against the connection) queued with its own future. One flusher takes
everything queued, and under the store's lock runs it on the connection's
thread in one trip: `BEGIN IMMEDIATE`, each step inside a savepoint of its
own, one `COMMIT`. Then the change feed is scanned once (`ChangeWatch`) and
every caller answered. Writes arriving meanwhile wait for the next round.

* Each claim is still decided by the database in its own read-check-write:
  the steps of a round run one after the other in one transaction, so a
  second `start` of the same slot sees the first one's result and is refused.
* A step that raises (a refusal such as `TransitionConflict`, or an SQLite
  error of its own) is rolled back to its savepoint: it stores nothing and
  only its caller gets the error; the others of the round go on.
* A caller is answered only after the `COMMIT` that holds its step returned
  (the intent-before-side-effect rule of DESIGN §5 relies on it); when the
  commit fails, or SQLite rolls the whole transaction back, every caller of
  that round gets `CalendarUnavailable` and nothing of the round is kept.
  Rounds committed before stay.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosqlite

from bot.calendar.store.in_thread import Step, run_now
from bot.core.calendar import CalendarUnavailable
from bot.core.commit_rounds import CommitRounds, Queued, in_thread

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Failed:
    """A step's exception, carried back to its own caller."""

    error: BaseException


def unavailable(what: str, exc: BaseException) -> CalendarUnavailable:
    """The error a caller sees for an SQLite failure; logged once, here."""
    log.error("embedded calendar %s failed: %s", what, exc)
    return CalendarUnavailable(f"embedded calendar error: {exc}")


class GroupCommit:
    """The calendar's writes, committed in rounds; see the module docstring."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        lock: asyncio.Lock,
        committed: Callable[[], Awaitable[None]],
    ) -> None:
        self._db = db
        #: The store's lock: a round never runs inside another caller's transaction.
        self._lock = lock
        #: Told after every round that committed (the change feed's scan).
        self._committed = committed
        self._rounds = CommitRounds[Step[Any]]("calendar group commit", self._round)
        #: Rounds committed and writes in them, for the benchmark and the tests.
        self.rounds = 0
        self.writes = 0

    async def write(self, step: Step[T]) -> T:
        """Run `step` as one atomic unit; answers once it is committed (or refused)."""
        done: T = await self._rounds.queue(step)
        return done

    async def drain(self) -> None:
        """Wait until every queued write was committed or refused."""
        await self._rounds.drain()

    async def _round(self, live: list[Queued[Step[Any]]]) -> None:
        async with self._lock:
            try:
                outcomes = await in_thread(self._db, _commit_round, [q.unit for q in live])
            except BaseException as exc:
                # The connection's thread is gone or we were cancelled: nobody of this
                # round, nor anyone queued behind it, may believe they are durable.
                for q in live + self._rounds.strand():
                    if not q.answer.done():
                        q.answer.set_exception(unavailable("write", exc))
                raise
            if isinstance(outcomes, sqlite3.Error):
                for q in live:
                    if not q.answer.done():
                        q.answer.set_exception(unavailable("commit", outcomes))
                return
            self.rounds += 1
            self.writes += len(live)
            await self._committed()
        for q, outcome in zip(live, outcomes, strict=True):
            if q.answer.done():
                continue
            if not isinstance(outcome, _Failed):
                q.answer.set_result(outcome)
            elif isinstance(outcome.error, sqlite3.Error):
                q.answer.set_exception(unavailable("write", outcome.error))
            else:
                q.answer.set_exception(outcome.error)


def _commit_round(conn: sqlite3.Connection, steps: list[Step[Any]]) -> list[object] | sqlite3.Error:
    """One transaction for all `steps`, each in a savepoint: each one's result or `_Failed`.

    Runs on the connection's thread. An `sqlite3.Error` instead of the list:
    the round as a whole failed (begin, commit, or SQLite rolled it all back)
    and none of it is kept. `BEGIN IMMEDIATE` takes the write lock at once, so
    another process' lock is waited for (busy timeout) here, not half-way.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        return exc
    outcomes: list[object] = []
    try:
        for step in steps:
            conn.execute("SAVEPOINT step")
            try:
                outcomes.append(run_now(conn, step))
            except Exception as exc:  # not swallowed: handed to this step's caller alone
                if not conn.in_transaction:  # SQLite rolled back the whole round
                    raise _whole_round(exc) from exc
                conn.execute("ROLLBACK TO step")
                outcomes.append(_Failed(exc))
            conn.execute("RELEASE step")
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error as rollback_exc:  # pragma: no cover - disk trouble
                log.error("embedded calendar rollback failed: %s", rollback_exc)
        if isinstance(exc, sqlite3.Error):
            return exc
        raise
    return outcomes


def _whole_round(exc: Exception) -> sqlite3.Error:
    if isinstance(exc, sqlite3.Error):
        return exc
    return sqlite3.OperationalError(f"the transaction was rolled back ({exc})")
