"""`python -m bot check-config` as a person runs it: a subprocess against the fake Discord."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from testkit.bots import DEFAULT_AGENTS
from testkit.fakediscord import DEFAULT_BOT_PERMISSIONS, FakeDiscord, P
from testkit.fakediscord.fixtures import MakeFake
from tests.e2e.harness import BotProcess, bot_env

SECRET_PART = "Gx1a2b"  # a piece of the fake's token that must never be printed


async def check_config(
    fake: FakeDiscord,
    tmp_path: Path,
    exits: int,
    agents: Sequence[str] = DEFAULT_AGENTS,
    **env: str,
) -> str:
    """Run `check-config` against `fake` with `bot_env`'s settings, check its exit code, return
    what it printed."""
    settings = bot_env(fake, tmp_path, agents=agents, **env)
    proc = await BotProcess.start(settings, tmp_path, "check-config", name="check-config")
    try:
        code = await proc.wait(30)
    finally:
        await proc.stop()
    out = proc.log_text()
    assert code == exits, out
    return out


def assert_no_token(fake: FakeDiscord, output: str) -> None:
    assert fake.token not in output
    assert SECRET_PART not in output
    assert "****** (set)" in output  # the token is shown as set, masked


async def test_all_well_prints_ok_and_exits_0_without_a_gateway(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake = fake_discord
    out = await check_config(fake, tmp_path, 0)
    assert "Permissions:    all required present" in out
    assert "  - alice: member" in out and "  - bob: member" in out
    assert out.rstrip().endswith("OK")
    assert_no_token(fake, out)
    assert fake.requests_for("GET", "/users/@me")  # it did log in over REST
    assert fake.gateway_connections == []  # ... and never opened the gateway


async def test_missing_permission_and_absent_agent_are_named_and_exit_1(
    make_fake_discord: MakeFake, tmp_path: Path
) -> None:
    fake = await make_fake_discord(bot_permissions=DEFAULT_BOT_PERMISSIONS & ~P.EMBED_LINKS)
    fake.add_agent("dave", member=False)
    out = await check_config(fake, tmp_path, 1, agents=("alice", "dave"))
    assert "Permissions:    MISSING Embed Links" in out
    assert "Manage Channels" not in out.split("Permissions:")[1].splitlines()[0]
    assert "  - dave: NOT a member of the guild" in out
    assert "  - alice: member" in out
    assert "PROBLEMS FOUND" in out
    assert_no_token(fake, out)


async def test_a_rejected_token_or_a_foreign_guild_exit_1(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    fake = fake_discord
    wrong = "wrong-token.Zz9y8x.abcdefghijklmnopqrstuvwxyz9876"
    out = await check_config(fake, tmp_path, 1, DISCORD_TOKEN=wrong)
    assert "DISCORD_TOKEN was rejected" in out
    assert wrong not in out and "Zz9y8x" not in out

    out = await check_config(fake, tmp_path, 1, DISCORD_GUILD_ID="4242")
    assert "not a member of guild 4242" in out
    assert_no_token(fake, out)


async def test_a_bad_configuration_exits_2_naming_the_variable(
    fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    out = await check_config(fake_discord, tmp_path, 2, TIMEZONE="Mars/Olympus")
    assert "TIMEZONE" in out
    assert fake_discord.token not in out and SECRET_PART not in out
    assert fake_discord.requests == []  # a bad config does not talk to Discord at all
