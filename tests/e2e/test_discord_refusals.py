"""Discord refusing the moderator, as an operator meets it: `python -m bot` against the fake
Discord with a token it does not accept, at login (REST 401) or at the gateway (close
4004). The contract (README, exit codes): exit 1 with one clear line naming
DISCORD_TOKEN, no traceback, and the token nowhere in the output.

From a review of the operator's lifecycle, which found the gateway's 4004 ending in "the
bot stopped on an error" with a ConnectionClosed traceback. The gateway's other fatal
close codes are pinned line by line in tests/app/test_gateway_refusals.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from testkit.fakediscord import FakeDiscord
from tests.e2e.harness import WAIT_S, BotProcess, bot_env

StartBot = Callable[..., Awaitable[BotProcess]]
WRONG_TOKEN = "wrong-bot-token.Gx9z8y.zyxwvutsrqponmlkjihgfedcba9876"


def _assert_refused_cleanly(proc: BotProcess, *tokens: str) -> None:
    log = proc.log_text()
    refusals = [line for line in log.splitlines() if "DISCORD_TOKEN" in line]
    assert len(refusals) == 1 and " ERROR " in refusals[0], log[-3000:]
    assert "Traceback" not in log
    for token in tokens:
        assert token not in log


async def test_a_token_discord_refuses_at_login_is_one_line_and_exit_1(
    fake_discord: FakeDiscord, tmp_path: Path, bot_processes: StartBot
) -> None:
    env = bot_env(fake_discord, tmp_path)
    env["DISCORD_TOKEN"] = WRONG_TOKEN  # the fake's REST answers 401 to it
    proc = await bot_processes(env, tmp_path)
    assert await proc.wait(WAIT_S) == 1
    _assert_refused_cleanly(proc, WRONG_TOKEN, fake_discord.token)
    assert not fake_discord.gateway_connections  # it never went on to the gateway


async def test_a_token_the_gateway_refuses_with_4004_is_one_line_and_exit_1(
    fake_discord: FakeDiscord, tmp_path: Path, bot_processes: StartBot
) -> None:
    fake = fake_discord
    old_token = fake.token
    fake.drop_connections(hold=True)  # the gateway waits until the token is changed
    proc = await bot_processes(bot_env(fake, tmp_path), tmp_path)
    await fake.wait_for(lambda: bool(fake.gateway_connections), WAIT_S, what="the gateway dial")
    fake.token = "rotated-bot-token.Gx1a2b.abcdefghijklmnopqrstuvwxyz0123"
    fake.release_gateway()
    assert await proc.wait(WAIT_S) == 1
    assert fake.gateway_connections[0].close_code == 4004
    _assert_refused_cleanly(proc, old_token)
