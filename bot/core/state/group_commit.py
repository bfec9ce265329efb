"""Group commit: the state file's writes that arrive while a commit is in flight share the next.

A burst of wakes (100 slots due in the same second) writes the ledger from
every agent at once: an intent before each claim, the claim, the channel link
before each wake message, the message, the result. One transaction per write,
one after the other on one connection, made each writer wait for all the
writers before it, and every write cost several trips between the event loop
and the connection's thread (execute, close the cursor, commit), each a loop
iteration of a loop that is busy with the burst: p99 over 1 s per write.

Here a write is queued with its own future; one flusher takes *everything*
queued, runs it on the connection's thread in one call (one trip) as one
transaction, each caller's statements inside a savepoint of their own, commits
once, and answers every caller. Writes that arrive meanwhile wait for the next
round, whatever their number. So:

* each caller still awaits its own durability: its future is answered only
  after the `COMMIT` that holds its statements returned (DESIGN §5: the intent
  is in the file before the claim is sent, the channel link before the wake
  message is posted);
* a caller's statements are atomic and isolated from the others': one that
  fails is rolled back to its savepoint and only that caller gets the error;
  when SQLite rolls back the whole transaction (disk full, I/O error) every
  caller of the round gets it, as none of them is durable;
* a read is one trip too and never sees a round half done: the connection's
  thread runs one call at a time.

aiosqlite runs calls on its thread only through `Connection._execute`, which
its public methods are made of; there is no public way to run a whole
transaction in one trip (`bot.core.commit_rounds.in_thread` is the only use).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosqlite

from bot.core.commit_rounds import CommitRounds, Queued, in_thread

T = TypeVar("T")
#: One SQL statement and its parameters.
Statement = tuple[str, Sequence[Any]]
#: What refuses one caller's statements: SQLite's errors, and a value SQLite cannot store
#: (an integer beyond 64 bits is an `OverflowError` of the sqlite3 module, not an `Error`).
_REFUSED = (sqlite3.Error, OverflowError)


@dataclass(frozen=True, slots=True)
class Written:
    """What a committed write answers: the last statement's rowcount and rows (a SELECT's)."""

    rowcount: int
    rows: list[Any]


class GroupCommit:
    """Writes of one connection, committed in rounds; see the module docstring."""

    def __init__(
        self, db: aiosqlite.Connection, failed: Callable[[str, Exception], Exception]
    ) -> None:
        self._db = db
        #: Turns an SQLite error into what the caller sees ("write" or "read", the error).
        self._failed = failed
        self._rounds = CommitRounds[list[Statement]]("state file group commit", self._round)
        self._closed = False
        #: Rounds committed and writes in them, for the benchmark and the tests.
        self.rounds = 0
        self.writes = 0

    async def write(self, statements: Sequence[Statement]) -> Written:
        """Run `statements` as one atomic unit; answers once they are committed."""
        if self._closed:
            raise self._failed("write", sqlite3.ProgrammingError("the state file is closed"))
        written: Written = await self._rounds.queue(list(statements))
        return written

    async def read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        if self._closed:
            raise self._failed("read", sqlite3.ProgrammingError("the state file is closed"))
        try:
            return await in_thread(self._db, _fetch, sql, params)
        except _REFUSED as exc:
            raise self._failed("read", exc) from exc

    async def close(self) -> None:
        """Let every queued write be committed or refused, then take no more."""
        self._closed = True
        await self._rounds.drain()

    async def _round(self, live: list[Queued[list[Statement]]]) -> None:
        try:
            outcomes = await in_thread(self._db, _commit_round, [q.unit for q in live])
        except BaseException as exc:
            # The connection's thread is gone or we were cancelled: nobody of
            # this round, nor anyone queued behind it, may believe they are durable.
            lost = sqlite3.OperationalError(f"{type(exc).__name__} {exc}".strip())
            for q in live + self._rounds.strand():
                if not q.answer.done():
                    q.answer.set_exception(self._failed("write", lost))
            raise
        self.rounds += 1
        self.writes += len(live)
        for q, outcome in zip(live, outcomes, strict=True):
            if q.answer.done():
                continue
            if isinstance(outcome, Exception):
                q.answer.set_exception(self._failed("write", outcome))
            else:
                q.answer.set_result(outcome)


def _fetch(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    cur = conn.execute(sql, params)
    try:
        return list(cur.fetchall())
    finally:
        cur.close()


def _run(conn: sqlite3.Connection, statements: list[Statement]) -> Written:
    written = Written(0, [])
    for sql, params in statements:
        cur = conn.execute(sql, params)
        try:
            written = Written(cur.rowcount, list(cur.fetchall()))
        finally:
            cur.close()
    return written


def _commit_round(
    conn: sqlite3.Connection, units: list[list[Statement]]
) -> list[Written | Exception]:
    """One transaction for all `units`, each in a savepoint; its outcome per unit.

    Runs on the connection's thread. `BEGIN IMMEDIATE` takes the write lock
    at once, so another process' lock is waited for (busy timeout) here and
    not found half-way.
    """
    outcomes: list[Written | Exception] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        for statements in units:
            conn.execute("SAVEPOINT unit")
            try:
                outcomes.append(_run(conn, statements))
            except _REFUSED as exc:
                if not conn.in_transaction:
                    # SQLite rolled the whole transaction back (disk full, I/O error):
                    # the units before this one went with it.
                    return [exc] * len(units)
                conn.execute("ROLLBACK TO unit")
                outcomes.append(exc)
            conn.execute("RELEASE unit")
        conn.commit()
    except sqlite3.Error as exc:
        if conn.in_transaction:
            # The first error is the one to report; a failed rollback ends with the connection.
            with contextlib.suppress(sqlite3.Error):
                conn.rollback()
        return [exc] * len(units)
    return outcomes
