"""What the store's SQL modules need of a connection, so one copy of them runs on SQLite and
PostgreSQL alike (DESIGN §11).

The modules (`rows`, `transitions`, `edits`, `occurrences`, `series*`, `agents`,
`feed`, `notify`) were written against aiosqlite: `await db.execute(sql, params)`
(a cursor with `rowcount`) and `await db.execute_fetchall(sql, params)` (rows read
by position or by column name), `?` placeholders, and SQL both engines speak
(`ON CONFLICT … DO UPDATE`, `COALESCE`, partial indexes). `Db` is exactly that
surface: an `aiosqlite.Connection` is one as it is, and
`bot.calendar.pg.connection.PgConnection` is the PostgreSQL one (it turns `?` into
its driver's placeholders and its rows into `Row`s).

A unique index refusing a row is `sqlite3.IntegrityError` on SQLite and
`DuplicateRow` on PostgreSQL; `INTEGRITY_ERRORS` catches both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Iterable, Iterator
from typing import Any, Protocol


class Row(Protocol):
    """A result row: by position, by column name, and unpacked."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Cursor(Protocol):
    """What a write's statement answers: how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    async def close(self) -> None: ...


class Db(Protocol):
    """A connection inside the store's read or write transaction."""

    def execute(
        self, sql: str, parameters: Iterable[Any] | None = None, /
    ) -> Awaitable[Cursor]: ...

    def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None, /
    ) -> Awaitable[Iterable[Row]]: ...


class DuplicateRow(Exception):
    """A unique index refused a row (PostgreSQL's unique violation, as the store sees it)."""


#: A unique index refused a row, on either engine.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, DuplicateRow)
