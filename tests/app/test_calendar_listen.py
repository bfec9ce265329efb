"""The bot's `CALENDAR_LISTEN` (DESIGN §3.3): the loopback rule of `calendar serve`, and the
served API given the previous token and the agents, like `calendar serve` is."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bot.__main__ import main
from bot.core.tokens import TokenKind, derive_token
from testkit.processes import BotProcess, bot_env, free_port
from tests.app.cli_shell import AGENTS, clean_shell

NEW = "n" * 40
OLD = "o" * 40


@pytest.mark.parametrize(
    ("host", "tokens", "why"),
    [
        ("0.0.0.0", {}, "CALENDAR_TOKEN is not set"),
        ("[::]", {"CALENDAR_TOKEN": "short-token"}, "CALENDAR_TOKEN is shorter than 32"),
        ("192.0.2.7", {"CALENDAR_TOKEN": "x" * 31}, "CALENDAR_TOKEN is shorter than 32"),
        (
            "0.0.0.0",
            {"CALENDAR_TOKEN": NEW, "CALENDAR_TOKEN_PREVIOUS": "old-and-short"},
            "CALENDAR_TOKEN_PREVIOUS is shorter than 32",
        ),
    ],
    ids=["no-token", "short-v6-any", "31-chars", "short-previous"],
)
def test_listening_beyond_loopback_without_long_tokens_is_exit_2_and_creates_nothing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    host: str,
    tokens: dict[str, str],
    why: str,
) -> None:
    clean_shell(monkeypatch, tmp_path)
    (tmp_path / "agents.toml").write_text(AGENTS, encoding="utf-8")
    monkeypatch.setenv("STATE_PATH", str(tmp_path / "state.db"))
    monkeypatch.setenv("SPAWN_COMMAND", "true")
    monkeypatch.setenv("CALENDAR_LISTEN", f"{host}:8089")
    for name, value in tokens.items():
        monkeypatch.setenv(name, value)
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: CALENDAR_LISTEN: refusing to serve the calendar on")
    assert why in err and "Traceback" not in out + err
    assert all(token not in err for token in tokens.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agents.toml"]
    # check-config says the same, as the problem it is.
    assert main(["check-config"]) == 2
    out, err = capsys.readouterr()
    assert "CALENDAR_LISTEN: refusing" in err and "PROBLEMS FOUND" in out


def test_check_config_takes_loopback_without_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clean_shell(monkeypatch, tmp_path)
    (tmp_path / "agents.toml").write_text(AGENTS, encoding="utf-8")
    monkeypatch.setenv("SPAWN_COMMAND", "true")
    monkeypatch.setenv("CALENDAR_LISTEN", "127.0.0.1:8089")
    assert main(["check-config"]) == 0, capsys.readouterr()
    assert "refusing" not in capsys.readouterr().out


async def test_the_bots_served_calendar_knows_the_previous_token_and_the_agents(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = bot_env(
        None,
        tmp_path,
        SPAWN_COMMAND="true",
        CALENDAR_LISTEN=f"127.0.0.1:{port}",
        CALENDAR_TOKEN=NEW,
        CALENDAR_TOKEN_PREVIOUS=OLD,
    )
    (tmp_path / "agents.toml").write_text(AGENTS, encoding="utf-8")
    proc = await BotProcess.start(env, tmp_path)
    base = f"http://127.0.0.1:{port}/calendar"
    body = {"scheduled_at": "2099-01-05T09:00:00+00:00", "title": "t"}
    try:
        await proc.wait_log("serving the embedded calendar's API")
        async with aiohttp.ClientSession() as http:

            async def post(token: str, agent: str) -> tuple[int, str]:
                headers = {"Authorization": f"Bearer {token}", "X-Agent-Id": agent}
                async with http.post(f"{base}/slots", json=body, headers=headers) as resp:
                    return resp.status, (await resp.json())["error" if resp.status >= 400 else "id"]

            async def status(token: str) -> int:
                headers = {"Authorization": f"Bearer {token}"}
                async with http.get(f"{base}/agent/status", headers=headers) as resp:
                    return resp.status

            assert (await post(OLD, "alice"))[0] == 201  # the previous token, mid-rotation
            assert await post(NEW, "zed") == (404, "unknown_agent")  # not in AGENTS_FILE
            assert await status(derive_token(OLD, TokenKind.AGENT, "bob", 4)) == 200
            assert await status(derive_token(NEW, TokenKind.AGENT, "bob", 1)) == 401  # revoked
    finally:
        proc.terminate()
        assert await proc.wait() == 0
        await proc.stop()
    log = proc.log_text()
    assert NEW not in log and OLD not in log
