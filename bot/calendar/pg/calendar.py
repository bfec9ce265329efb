"""`PgCalendar`: the embedded calendar's protocol calls kept in PostgreSQL (DESIGN §11).

It is `EmbeddedCalendar` with another connection underneath: every call, check
and statement is the SQLite store's own (`bot.calendar.store`), run through
`PgConnection`; only opening, the transactions and the change watch differ.

Transactions. A write takes a connection from the pool, begins, and first takes
one transaction-level advisory lock (`WRITE_LOCK`) held until it commits: the
writers of every process and server on the database are serialised exactly as
SQLite's `BEGIN IMMEDIATE` serialises the writers of a file, so the store's
read-check-write runs unchanged and the database decides every race: a claim is
the `UPDATE … WHERE id = ? AND version = ?` compare-and-set, "one ONGOING/PAUSED
slot per agent" is the partial unique index `slots_one_held_per_agent`, and an
occurrence is written with its claim in the one transaction. It also makes
`slot_events.seq` grow in commit order, which is what lets a feed cursor never
skip a change (`bot.calendar.pg.watch`). Reads take no lock: each runs in one
REPEATABLE READ, READ ONLY transaction, so a day and its series are one snapshot.

A database that goes away makes calls fail as `CalendarUnavailable` (503 from the
server) until it is back; the pool checks a connection before lending it, so
recovery needs nothing but the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

import aiosqlite
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from bot.calendar.pg.checks import schema_problem
from bot.calendar.pg.connection import PgConnection
from bot.calendar.pg.errors import CalendarDatabaseRefused, describe
from bot.calendar.pg.gate import ConnectionGate
from bot.calendar.pg.probe import ReachProbe
from bot.calendar.pg.schema import SchemaTooNew, migrate
from bot.calendar.pg.urls import shown_url
from bot.calendar.pg.watch import CHANNEL, PgChangeWatch
from bot.calendar.store.dialect import Db
from bot.calendar.store.embedded import EmbeddedCalendar
from bot.calendar.store.in_thread import Step
from bot.core.calendar import CalendarUnavailable
from bot.core.clock import Clock, SystemClock

log = logging.getLogger(__name__)
T = TypeVar("T")

#: `pg_advisory_xact_lock` key every write transaction holds ("CMCLwrit").
WRITE_LOCK = 0x434D434C77726974
#: Connections one process keeps at most (a claim or a read holds one for milliseconds).
POOL_SIZE = 10
#: How long a call waits for a free connection before it is `CalendarUnavailable`.
POOL_WAIT_S = 5.0
#: How long connecting may take before the database counts as unreachable.
CONNECT_TIMEOUT_S = 10


class PgCalendar(EmbeddedCalendar):
    """The `Calendar` protocol over a PostgreSQL database shared by any number of processes."""

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        url: str,
        *,
        timezone: ZoneInfo,
        clock: Clock,
        agents: Iterable[str] | None = None,
    ) -> None:
        """Use `PgCalendar.open`. `EmbeddedCalendar.__init__` is not called: it wires a SQLite
        connection, and here the pool and the watch take its place."""
        self._pool = pool
        #: The queue for the pool's connections (`gate`): a long queue that moves is no failure.
        self._gate = ConnectionGate(pool.max_size, pool.timeout)
        self._url = url
        self._reach = ReachProbe(url)
        self._tz = timezone
        self._clock = clock
        self._agents = frozenset(agents) if agents is not None else None
        self._closed = False
        self.changes = PgChangeWatch(clock, self._read, url)

    @classmethod
    async def open_url(
        cls,
        url: str,
        *,
        timezone: ZoneInfo,
        clock: Clock | None = None,
        agents: Iterable[str] | None = None,
        pool_size: int = POOL_SIZE,
        pool_wait_s: float = POOL_WAIT_S,
    ) -> PgCalendar:
        """Connect, bring the schema up to date (serialised with other starting processes),
        then open the pool; `CalendarDatabaseRefused` says what is wrong, never the password."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
            async with conn:
                found, problem = 0, await schema_problem(conn)
                if problem is None:
                    found = await migrate(conn)
                    problem = await schema_problem(conn)
        except SchemaTooNew as exc:
            raise CalendarDatabaseRefused(url, str(exc)) from None
        except (psycopg.Error, OSError) as exc:
            raise CalendarDatabaseRefused(url, describe(exc, url)) from None
        if problem is not None:
            raise CalendarDatabaseRefused(url, problem)
        if found == 0:
            log.info("calendar database %s: schema created", shown_url(url))
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=pool_wait_s,
            open=False,
            check=AsyncConnectionPool.check_connection,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            name="calendar",
        )
        await pool.open()
        return cls(pool, url, timezone=timezone, clock=clock or SystemClock(), agents=agents)

    async def _unavailable(self, doing: str, exc: BaseException) -> CalendarUnavailable:
        """The 503 for a failed call, naming why: a pool that lent nothing in time is either
        busy (every connection in use) or cut off from the database, and one quick
        connection attempt tells which."""
        reason = describe(exc, self._url)
        if isinstance(exc, PoolTimeout):
            reason = await self._reach.reason()  # one probe shared by a burst's failures
        log.error("calendar database %s failed: %s", doing, reason)
        return CalendarUnavailable(f"calendar database unavailable: {reason}")

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        self._ensure_open()
        try:
            async with self._gate.entered(), self._pool.connection() as conn, conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield _as_steps_expect(PgConnection(conn))
        except (psycopg.Error, PoolTimeout) as exc:
            raise await self._unavailable("read", exc) from None

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One transaction under the write lock; any exception (a refusal too) rolls it back."""
        self._ensure_open()
        try:
            async with self._gate.entered(), self._pool.connection() as conn:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
                    yield _as_steps_expect(PgConnection(conn))
                    await conn.execute(f"NOTIFY {CHANNEL}")
                await self.changes.committed(PgConnection(conn))
        except (psycopg.Error, PoolTimeout) as exc:
            raise await self._unavailable("write", exc) from None

    async def _write_step(self, step: Step[T]) -> T:
        """One step, one transaction: no group commit (each process has its own pool, and the
        write lock is held for one step only)."""
        async with self._write() as db:
            return await step(db)

    async def _read_step(self, step: Step[T]) -> T:
        async with self._read() as db:
            return await step(db)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.changes.stop()
        await asyncio.shield(self._pool.close())


def _as_steps_expect(conn: PgConnection) -> aiosqlite.Connection:
    """The store's steps are typed for aiosqlite's connection; what they use of it is the
    `Db` protocol (`bot.calendar.store.dialect`), which `PgConnection` answers, as the
    SQLite store's own `Direct` does (`bot.calendar.store.in_thread`)."""
    db: Db = conn
    return cast(aiosqlite.Connection, db)
