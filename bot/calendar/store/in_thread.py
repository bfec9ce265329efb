"""A whole calendar transaction in one trip to the connection's thread.

The store's steps (`apply_transition`, `beat`, `materialise`, the reads) are
written against aiosqlite, where every statement is a trip from the event loop
to the connection's thread and back: a claim was about ten of them, each a
queue hand-off, a thread wake-up and a loop wake-up. In a burst of wakes the
loop is the bottleneck, so those trips were most of a claim's cost.

`run_now` runs such a step on the connection's thread (sent there in one
trip by `bot.core.commit_rounds.in_thread`) against `Direct`, which answers
the same calls at once from the plain `sqlite3` connection: the step's
coroutine never suspends, so it is driven to its end with one `send`. The
steps stay one piece of code for both ways of running.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable
from typing import Any, TypeVar, cast

import aiosqlite

T = TypeVar("T")
#: A step of the store: what it does with the connection it is given.
Step = Callable[[aiosqlite.Connection], Awaitable[T]]


class _Cursor:
    """What the steps may use of an aiosqlite cursor, answered at once."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def fetchone(self) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._cursor.fetchone()
        return row

    async def fetchall(self) -> Iterable[sqlite3.Row]:
        rows: list[sqlite3.Row] = self._cursor.fetchall()
        return rows

    async def close(self) -> None:
        self._cursor.close()

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._cursor.close()


class _Executed:
    """`execute`'s answer: awaited, or used as `async with`, as aiosqlite's is."""

    def __init__(self, cursor: _Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, _Cursor]:
        return self._cursor
        yield  # a generator that never suspends

    async def __aenter__(self) -> _Cursor:
        return self._cursor

    async def __aexit__(self, *exc_info: object) -> None:
        await self._cursor.close()


class Direct:
    """The aiosqlite calls the store's steps make, answered at once on the connection's thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> _Executed:
        return _Executed(_Cursor(self._conn.execute(sql, tuple(parameters))))

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> _Cursor:
        return _Cursor(self._conn.executemany(sql, (tuple(p) for p in parameters)))

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] = ()) -> list[sqlite3.Row]:
        cursor = self._conn.execute(sql, tuple(parameters))
        try:
            rows: list[sqlite3.Row] = cursor.fetchall()
            return rows
        finally:
            cursor.close()


def run_now(conn: sqlite3.Connection, step: Step[T]) -> T:
    """`step` against `conn`, here and now (on the connection's thread).

    Raises what the step raises. A step that waits for anything but the
    connection cannot run here: that is a programming error, said so.
    """
    # `Direct` stands in for the aiosqlite connection the steps are typed for.
    coroutine = cast(Coroutine[Any, Any, T], step(cast(aiosqlite.Connection, Direct(conn))))
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise RuntimeError("a calendar step awaited something other than its connection")
