"""`python -m bot` with METRICS_LISTEN: served headless, and a taken port is exit 2 naming it."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.e2e.harness import BotProcess, bot_env, bot_processes, free_port

__all__ = ["bot_processes"]

StartBot = Callable[..., Awaitable[BotProcess]]


async def test_a_taken_metrics_port_exits_2_naming_metrics_listen(
    tmp_path: Path, bot_processes: StartBot
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = bot_env(
            None, tmp_path, SPAWN_URL="http://127.0.0.1:9/x", METRICS_LISTEN=f"127.0.0.1:{port}"
        )
        proc = await bot_processes(env, tmp_path)
        assert await proc.wait(30) == 2
    out = proc.log_text()
    assert out.startswith("error: METRICS_LISTEN: cannot listen on 127.0.0.1:")
    assert "Traceback" not in out


async def test_headless_serves_healthz_and_metrics(tmp_path: Path, bot_processes: StartBot) -> None:
    port = free_port()
    env = bot_env(
        None, tmp_path, SPAWN_URL="http://127.0.0.1:9/x", METRICS_LISTEN=f"127.0.0.1:{port}"
    )
    proc = await bot_processes(env, tmp_path)
    await proc.wait_log("moderator started")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert (resp.status, await resp.json()) == (200, {"status": "ok"})
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            text = await resp.text()
    assert 'moderator_syncs_total{outcome="ok"}' in text
    assert "moderator_discord_connected" not in text  # headless: nothing to be connected to
    proc.terminate()
    assert await proc.wait(20) == 0
