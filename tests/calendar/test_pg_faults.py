"""A PostgreSQL calendar that cannot be used (DESIGN §11): each fault named, exit 2, no password.

Wrong password, unreachable host, missing database, a newer schema, a role without
rights: `PgCalendar.open_url` refuses with `CalendarDatabaseRefused` (the start's
exit 2) and `check-config` names the same fault (exit 2), never with a traceback
and never with the password, which is also kept out of every log line.
"""

from __future__ import annotations

import logging
import secrets
import socket
from pathlib import Path

import psycopg
import pytest

from bot.__main__ import main
from bot.calendar.pg.calendar import PgCalendar
from bot.calendar.pg.errors import CalendarDatabaseRefused
from bot.calendar.pg.schema import migrate
from bot.calendar.store.schema import SCHEMA_VERSION
from bot.core.clock import FakeClock
from testkit.postgres import ADMIN_PASSWORD, PgCluster
from tests.app.test_settings import ALL_VARS
from tests.calendar.conftest import TZ

#: A password that must appear nowhere: long and unlike anything else in the output.
WRONG = "wrong-pw-" + secrets.token_hex(6)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _role(cluster: PgCluster, database: str) -> str:
    """A login role with no rights of its own; its URL on `database`."""
    name = "r_" + secrets.token_hex(4)
    password = "role-pw-" + secrets.token_hex(6)
    cluster.sql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    return cluster.url(database, user=name, password=password)


async def _refusal(url: str, clock: FakeClock) -> str:
    with pytest.raises(CalendarDatabaseRefused) as caught:
        await PgCalendar.open_url(url, timezone=TZ, clock=clock)
    assert caught.value.exit_code == 2
    return str(caught.value)


def _fault_urls(cluster: PgCluster) -> dict[str, str]:
    empty = cluster.new_database()
    return {
        "wrong password": cluster.url(empty, password=WRONG),
        "unreachable": f"postgresql://calendar_admin:{WRONG}@127.0.0.1:{_closed_port()}/cal",
        "no database": cluster.url("no_such_db_" + secrets.token_hex(3), password=None),
        "role may not create": _role(cluster, empty),
    }


EXPECTED = {
    "wrong password": "refused the password",
    "unreachable": "cannot be reached",
    "no database": "has no such database",
    "role may not create": "may not create",
}


async def test_each_fault_is_refused_by_name_without_the_password(
    pg_cluster: PgCluster, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for fault, url in _fault_urls(pg_cluster).items():
        message = await _refusal(url, clock)
        assert EXPECTED[fault] in message, (fault, message)
        assert message.startswith("CALENDAR_URL: postgresql://"), message
        assert WRONG not in message and ADMIN_PASSWORD not in message
        assert "role-pw-" not in message
    assert WRONG not in caplog.text and "role-pw-" not in caplog.text


async def test_a_newer_schema_is_refused_and_left_alone(pg_url: str, clock: FakeClock) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await migrate(conn)
        await conn.execute(
            "INSERT INTO calendar_schema (version) VALUES (%s)", (SCHEMA_VERSION + 7,)
        )
    message = await _refusal(pg_url, clock)
    assert f"schema {SCHEMA_VERSION + 7}" in message and "newer version" in message
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT MAX(version) FROM calendar_schema")
        assert await cur.fetchone() == (SCHEMA_VERSION + 7,)


async def test_a_role_that_may_read_but_not_write_is_refused(
    pg_cluster: PgCluster, pg_url: str, clock: FakeClock
) -> None:
    calendar = await PgCalendar.open_url(pg_url, timezone=TZ, clock=clock)
    await calendar.close()
    database = pg_url.rsplit("/", 1)[1]
    reader = _role(pg_cluster, database)
    pg_cluster.sql(
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader.split('//')[1].split(':')[0]}",
        database,
    )
    message = await _refusal(reader, clock)
    assert "denies the role SELECT, INSERT, UPDATE on slots" in message


async def test_concurrent_starts_create_the_schema_once(pg_url: str, clock: FakeClock) -> None:
    import asyncio

    calendars = await asyncio.gather(
        *(PgCalendar.open_url(pg_url, timezone=TZ, clock=clock, pool_size=2) for _ in range(5))
    )
    for calendar in calendars:
        await calendar.close()
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT version, COUNT(*) FROM calendar_schema GROUP BY version ORDER BY version"
        )
        assert await cur.fetchall() == [(version, 1) for version in range(3, SCHEMA_VERSION + 1)]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPAWN_COMMAND", "true")
    (tmp_path / "agents.toml").write_text('[[agents]]\nid = "ada"\n', encoding="utf-8")


@pytest.mark.usefixtures("clean_env")
def test_check_config_names_each_fault_with_exit_2(
    pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for fault, url in _fault_urls(pg_cluster).items():
        monkeypatch.setenv("CALENDAR_URL", url)
        assert main(["check-config"]) == 2, fault
        out, err = capsys.readouterr()
        assert EXPECTED[fault] in err and "CALENDAR_URL" in err, (fault, err)
        assert "Traceback" not in out + err
        assert WRONG not in out + err and "role-pw-" not in out + err


@pytest.mark.usefixtures("clean_env")
def test_check_config_passes_a_usable_database_and_masks_its_password(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALENDAR_URL", pg_url)
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert "OK" in out and ADMIN_PASSWORD not in out + err
    assert "calendar_admin:***@127.0.0.1" in out
