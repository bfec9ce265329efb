"""`calendar token` and `calendar serve`'s loopback rule, run as `python -m bot` runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.calendar_access import MIN_PUBLIC_TOKEN_CHARS, is_loopback, serve_refusal
from bot.app.cli import run
from bot.core.tokens import MAX_TOKEN_GENERATION, TokenKind, derive_token

SECRET = "s" * 40
AGENTS = '[[agents]]\nid = "alice"\n\n[[agents]]\nid = "bob"\ntoken_generation = 4\n'


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A shell in an empty directory (no .env) with only the calendar settings the test sets."""
    monkeypatch.chdir(tmp_path)
    for name in ("CALENDAR_TOKEN", "CALENDAR_TOKEN_PREVIOUS", "DISCORD_TOKEN", "SPAWN_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CALENDAR_URL", f"sqlite:///{tmp_path / 'calendar.db'}")
    monkeypatch.setenv("AGENTS_FILE", str(tmp_path / "agents.toml"))
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(["calendar", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_token_uses_the_agents_generation(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (shell / "agents.toml").write_text(AGENTS, encoding="utf-8")
    monkeypatch.setenv("CALENDAR_TOKEN", SECRET)
    assert _run(capsys, "token", "bob") == (
        0,
        derive_token(SECRET, TokenKind.AGENT, "bob", 4) + "\n",
        "",
    )
    code, out, _ = _run(capsys, "token", "alice", "--feed")
    assert code == 0 and out.strip() == derive_token(SECRET, TokenKind.FEED, "alice", 1)
    assert SECRET not in out


def test_token_without_an_agents_file_is_generation_1(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALENDAR_TOKEN", SECRET)
    code, out, _ = _run(capsys, "token", "carol")
    assert code == 0 and out.strip() == derive_token(SECRET, TokenKind.AGENT, "carol", 1)


@pytest.mark.parametrize(
    ("args", "token", "expect"),
    [
        (("token", "alice"), None, "CALENDAR_TOKEN is not set"),
        (("token", "Alice"), SECRET, "'Alice' is not an agent id"),
        (("token", "a" * 5000), SECRET, "is not an agent id"),
        (("token", "../etc"), SECRET, "is not an agent id"),
        (("token", ""), SECRET, "is not an agent id"),
        (("token", "zed"), SECRET, "unknown agent 'zed': AGENTS_FILE"),
    ],
)
def test_token_refusals_are_exit_2_with_one_line(
    shell: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    token: str | None,
    expect: str,
) -> None:
    (shell / "agents.toml").write_text(AGENTS, encoding="utf-8")
    if token is not None:
        monkeypatch.setenv("CALENDAR_TOKEN", token)
    code, out, err = _run(capsys, *args)
    assert code == 2 and out == ""
    assert expect in err and len(err.splitlines()) == 1 and len(err) < 300
    assert SECRET not in err


def test_token_with_a_broken_agents_file_is_exit_2_naming_it(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (shell / "agents.toml").write_text(
        f'[[agents]]\nid = "alice"\ntoken_generation = {MAX_TOKEN_GENERATION + 1}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CALENDAR_TOKEN", SECRET)
    code, out, err = _run(capsys, "token", "alice")
    assert code == 2 and out == ""
    assert "agents.toml:1: token_generation" in err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("128.0.0.1", False),
        ("localhost.evil.test", False),
        ("example.org", False),
        ("127.0.0.1 ", False),
    ],
)
def test_loopback_is_exactly_127_8_v6_1_and_localhost(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_refusal_needs_a_long_token_beyond_loopback() -> None:
    long_token = "t" * MIN_PUBLIC_TOKEN_CHARS
    assert serve_refusal("127.0.0.1", None) is None
    assert serve_refusal("0.0.0.0", long_token) is None
    refused = serve_refusal("0.0.0.0", "t" * (MIN_PUBLIC_TOKEN_CHARS - 1))
    assert refused is not None and "shorter than 32 characters" in refused
    assert "t" * 10 not in refused  # the token itself is never shown


@pytest.mark.parametrize(
    ("host", "token", "expect"),
    [
        ("0.0.0.0", None, "CALENDAR_TOKEN is not set"),
        ("::", "short-token", "shorter than 32 characters"),
        ("192.0.2.1", "x" * 31, "shorter than 32 characters"),
    ],
)
def test_serve_beyond_loopback_without_a_real_token_is_exit_2(
    shell: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    host: str,
    token: str | None,
    expect: str,
) -> None:
    if token is not None:
        monkeypatch.setenv("CALENDAR_TOKEN", token)
    code, out, err = _run(capsys, "serve", "--host", host, "--port", "0")
    assert code == 2 and out == ""
    assert "refusing to serve the calendar" in err and expect in err
    assert not (shell / "calendar.db").exists(), "nothing is opened or created when refused"
