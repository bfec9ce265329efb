"""A psycopg connection as the store's `Db` (bot.calendar.store.dialect): one copy of the
store's SQL runs on PostgreSQL too.

The store's statements are written with `?` placeholders; here they become psycopg's
`%s` (a literal `%` is doubled) outside quoted text, once per statement text. Values
are bound on the client side (`AsyncClientCursor`): the statements compare a bound
value with NULL or a column the way SQLite lets them (`? IS NULL OR agent_id = ?`),
which server-side binding would refuse as an untyped parameter; psycopg quotes every
value itself, so nothing is spliced unescaped. A unique violation becomes
`DuplicateRow`, which the store catches on either engine.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import RowMaker

from bot.calendar.store.dialect import DuplicateRow


@functools.lru_cache(maxsize=512)
def pg_sql(sql: str) -> str:
    """`sql` with SQLite's `?` as psycopg's `%s` and `%` doubled, quoted text left alone."""
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append("%%" if char == "%" else char)
    return "".join(out)


class PgRow:
    """One result row, read by position, by column name, or unpacked (as `sqlite3.Row`)."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: Sequence[Any]) -> None:
        self._names = names
        self._values = tuple(values)

    def __getitem__(self, key: int | str, /) -> Any:
        if isinstance(key, str):
            return self._values[self._names[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._names)


def pg_rows(cursor: psycopg.AsyncCursor[Any]) -> RowMaker[PgRow]:
    """psycopg's row factory for `PgRow`s (column names looked up once per result)."""
    names = {column.name: index for index, column in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(names, values)

    return make


@dataclass(frozen=True, slots=True)
class Done:
    """A statement's answer as the store reads it: how many rows it changed."""

    rowcount: int

    async def close(self) -> None:
        return None


class PgConnection:
    """The store's `Db` over one psycopg connection (inside the caller's transaction)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None, /) -> Done:
        async with psycopg.AsyncClientCursor(self.conn) as cur:
            await self._run(cur, sql, parameters)
            return Done(cur.rowcount)

    async def execute_fetchall(
        self, sql: str, parameters: Iterable[Any] | None = None, /
    ) -> list[PgRow]:
        async with psycopg.AsyncClientCursor(self.conn, row_factory=pg_rows) as cur:
            await self._run(cur, sql, parameters)
            return await cur.fetchall() if cur.description is not None else []

    @staticmethod
    async def _run(
        cur: psycopg.AsyncClientCursor[Any], sql: str, parameters: Iterable[Any] | None
    ) -> None:
        try:
            await cur.execute(pg_sql(sql), list(parameters or ()))
        except psycopg.errors.UniqueViolation as exc:
            name = exc.diag.constraint_name or "a unique index"
            raise DuplicateRow(f"{name} refused the row") from None
