"""Calendar fixtures: one behavioural suite runs over every backend.

`backend` gives the same `Calendar` interface five ways: the embedded store
in-process, the HTTP client against the real server (on 127.0.0.1, port 0)
with auth off and on, and the same store kept in PostgreSQL (DESIGN §11), in-process
and behind the server. The store behind the server shares the test's FakeClock,
so time-dependent rules are driven by hand in every case. The PostgreSQL cases run
on one throw-away cluster per test worker (`testkit.postgres`), a fresh database
per test; they skip where the machine has no PostgreSQL server, never in CI.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import Calendar
from bot.core.clock import FakeClock
from bot.core.models import SlotCreate
from testkit.postgres import ADMIN_PASSWORD, PgCluster, require_binaries, start_cluster
from testkit.processes import REPO_ROOT, BotProcess, free_port
from testkit.retries import quick_retry

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: A zone far from UTC, so local-day mistakes show (local midnight is 16:00 UTC).
TZ = ZoneInfo("Asia/Shanghai")
#: Monday 2026-01-05, 09:00 local.
START = datetime(2026, 1, 5, 9, 0, tzinfo=TZ)
TOKEN = "cal-secret-token-7f3a9c1e5b"

BACKENDS = ["embedded", "http", "http-auth", "postgres", "http-postgres"]


@dataclass
class Backend:
    name: str
    cal: Calendar
    store: EmbeddedCalendar
    clock: FakeClock


def slot_body(at: datetime | None = None, **fields: Any) -> SlotCreate:
    """A valid slot body; tests name only what they care about."""
    values: dict[str, Any] = {
        "scheduled_at": at if at is not None else START,
        "title": "write the report",
        "prompt": "Summarise yesterday's changes.",
    }
    values.update(fields)
    return SlotCreate(**values)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=START.astimezone(UTC))


@pytest.fixture
async def store(clock: FakeClock) -> AsyncIterator[EmbeddedCalendar]:
    cal = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=clock)
    yield cal
    await cal.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL cluster for this test worker; skips without the server (never in CI)."""
    require_binaries()
    cluster = start_cluster()
    yield cluster
    cluster.remove()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database's URL (the cluster starts on first use)."""
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.url(cluster.new_database())


@pytest.fixture
async def servers(pg_url: str, tmp_path: Path) -> AsyncIterator[list[str]]:
    """Two `calendar serve` processes on `pg_url`: their URLs; the password in neither log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALENDAR_", "DISCORD_"))}
    env.update(PYTHONPATH=str(REPO_ROOT), CALENDAR_URL=pg_url, TIMEZONE=TZ.key)
    procs: list[BotProcess] = []
    urls = []
    for _ in range(2):
        port = free_port()
        proc = await BotProcess.start(
            env, tmp_path, "calendar", "serve", "--port", str(port), name="serve"
        )
        procs.append(proc)
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for proc in procs:
            await proc.wait_log("calendar API listening on")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await proc.wait()
        for proc in procs:
            assert ADMIN_PASSWORD not in proc.log_text()
            assert "calendar_admin:***@127.0.0.1" in proc.log_text()


async def open_pg(url: str, clock: FakeClock, **options: Any) -> EmbeddedCalendar:
    from bot.calendar.pg.calendar import PgCalendar

    return await PgCalendar.open_url(url, timezone=TZ, clock=clock, **options)


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, store: EmbeddedCalendar, clock: FakeClock
) -> AsyncIterator[Backend]:
    name: str = request.param
    if name == "embedded":
        yield Backend(name=name, cal=store, store=store, clock=clock)
        return
    if name.endswith("postgres"):
        store = await open_pg(request.getfixturevalue("pg_url"), clock)
        if name == "postgres":
            try:
                yield Backend(name=name, cal=store, store=store, clock=clock)
            finally:
                await store.close()
            return
    from bot.calendar.client import HttpCalendar
    from bot.calendar.server import start_server

    token = TOKEN if name == "http-auth" else None
    runner, port = await start_server(store, "127.0.0.1", 0, token=token)
    base_url = f"http://127.0.0.1:{port}"
    client = HttpCalendar(base_url, timezone=TZ, token=token, retry=quick_retry())
    try:
        yield Backend(name=name, cal=client, store=store, clock=clock)
    finally:
        await client.close()
        await runner.cleanup()
        if name.endswith("postgres"):
            await store.close()


Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


@dataclass
class Served:
    """A real calendar server on loopback, maybe with fault-injecting middlewares in front."""

    app: web.Application
    runner: web.AppRunner
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def serve(
    store: EmbeddedCalendar,
) -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    """`await serve(*outer, inner=[...], token=...)`: the API over `store`, with faults.

    `outer` middlewares wrap everything (they see the final answer, as a proxy
    would); `inner` ones sit where a handler bug would, inside the error layer.
    """
    from bot.calendar.server import make_app, serve_app

    runners: list[web.AppRunner] = []

    async def start(
        *outer: Middleware, inner: Sequence[Middleware] = (), token: str | None = None
    ) -> Served:
        app = make_app(store, token=token)
        for position, middleware in enumerate(outer):
            app.middlewares.insert(position, web.middleware(middleware))
        for middleware in inner:
            app.middlewares.append(web.middleware(middleware))
        runner, port = await serve_app(app, "127.0.0.1", 0)
        runners.append(runner)
        return Served(app=app, runner=runner, port=port)

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP session, for looking at the wire itself."""
    async with aiohttp.ClientSession() as session:
        yield session


def cursor_number(cursor: str) -> int:
    """A feed cursor's history sequence number (`<store mark>-<number>`)."""
    return int(cursor.rsplit("-", 1)[-1])
