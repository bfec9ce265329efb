"""`calendar add` against a served calendar: `python -m bot calendar serve` in a real process.

The CLI runs in-process with `CALENDAR_URL=http://…`; the server is started
the way an operator starts it, with `CALENDAR_TOKEN`, `CALENDAR_TOKEN_PREVIOUS`
and an `AGENTS_FILE`, so these tests also show `serve` hands the server the
previous token and the agents (their token generations, `unknown_agent`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core.tokens import TokenKind, derive_token
from testkit.processes import REPO_ROOT
from tests.app.cli_shell import AGENTS, calendar, clean_shell, stored_titles
from tests.app.test_calendar_add import add_args, hostile_adds
from tests.app.test_settings import ALL_VARS

NEW = "n" * 40
OLD = "o" * 40
PATIENCE_S = 30.0


@dataclass(frozen=True)
class Server:
    url: str
    db: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _status(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> int:
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode())
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status: int = answer.status
            return status
    except urllib.error.HTTPError as refused:
        return refused.code


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    where = tmp_path_factory.mktemp("served")
    (where / "agents.toml").write_text(AGENTS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k.upper() not in ALL_VARS}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        CALENDAR_TOKEN=NEW,
        CALENDAR_TOKEN_PREVIOUS=OLD,
        AGENTS_FILE=str(where / "agents.toml"),
        TIMEZONE="Asia/Shanghai",
    )
    port, db = _free_port(), where / "served.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "calendar", "serve", "--port", str(port), "--db", str(db)],
        cwd=where,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + PATIENCE_S
        while True:  # readiness, not timing: nothing is asserted about how long it took
            try:
                if _status(f"{url}/healthz") == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "calendar serve never answered"
            time.sleep(0.1)
        yield Server(url=url, db=db)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=PATIENCE_S)
        assert process.returncode == 0, err.decode()
        assert NEW not in err.decode() and OLD not in err.decode()


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: Server) -> Server:
    """This shell's CLI talks to the served calendar with the full token; no local agents file."""
    clean_shell(monkeypatch, tmp_path)
    monkeypatch.setenv("CALENDAR_URL", server.url)
    monkeypatch.setenv("CALENDAR_TOKEN", NEW)
    return server


@hostile_adds
def test_a_hostile_add_to_a_served_calendar_is_refused_the_same_way(
    remote: Server,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    changes: dict[str, str | None],
    names: str,
    code: int,
) -> None:
    before = stored_titles(remote.db)
    refused = calendar(capsys, *add_args(changes))
    line = refused.one_line_error()
    assert refused.code == code, line
    assert names in line
    assert stored_titles(remote.db) == before
    mark = request.node.callspec.id
    good = calendar(capsys, *add_args({"--title": mark}))
    assert good.code == 0, good.err
    assert stored_titles(remote.db) == [*before, mark]


def test_the_served_past_refusal_says_allow_past_and_that_records_it(
    remote: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    past = {"--at": "2020-01-01T09:00+08:00", "--title": "served history"}
    refused = calendar(capsys, *add_args(past))
    assert refused.code == 1
    line = refused.one_line_error()
    assert "--at: 2020-01-01 09:00 Asia/Shanghai is more than an hour in the past" in line
    assert "--allow-past" in line
    assert "served history" not in stored_titles(remote.db)
    recorded = calendar(capsys, *add_args(past), "--allow-past")
    assert recorded.code == 0, recorded.err
    assert "served history" in stored_titles(remote.db)


def test_serve_accepts_the_previous_token_during_a_rotation(
    remote: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALENDAR_TOKEN", OLD)
    ran = calendar(capsys, *add_args({"--title": "with the old token"}))
    assert ran.code == 0, ran.err
    monkeypatch.setenv("CALENDAR_TOKEN", "w" * 40)
    before = stored_titles(remote.db)
    wrong = calendar(capsys, *add_args({"--title": "with a wrong token"}))
    assert wrong.code == 1 and "w" * 40 not in wrong.one_line_error()
    assert stored_titles(remote.db) == before


def test_serve_knows_each_agents_token_generation(remote: Server) -> None:
    status = f"{remote.url}/calendar/agent/status"
    assert _status(status, derive_token(NEW, TokenKind.AGENT, "bob", 4)) == 200
    assert _status(status, derive_token(OLD, TokenKind.AGENT, "bob", 4)) == 200
    # Generation 1 of bob was revoked by raising it to 4; zed is not in AGENTS_FILE.
    assert _status(status, derive_token(NEW, TokenKind.AGENT, "bob", 1)) in (401, 403)
    assert _status(status, derive_token(NEW, TokenKind.AGENT, "zed", 1)) in (401, 403, 404)


def test_an_agent_token_adds_only_for_its_agent(
    remote: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALENDAR_TOKEN", derive_token(NEW, TokenKind.AGENT, "alice", 1))
    own = calendar(capsys, *add_args({"--title": "alice's own"}))
    assert own.code == 0, own.err
    before = stored_titles(remote.db)
    other = calendar(capsys, *add_args({"--agent": "bob", "--title": "for bob"}))
    assert other.code == 1
    other.one_line_error()
    assert stored_titles(remote.db) == before
