"""Running the real `ModeratorBot` in-process against the fake Discord.

`harness_settings` gives the settings a test or benchmark bot runs with (the
fake's Discord variables, files in one folder, long loop intervals), and
`started` runs an opened bot as `python -m bot` does until it is ready.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.app.settings import Settings, load_settings
from bot.discord_io.client import ModeratorBot
from testkit.fakediscord import FakeDiscord
from testkit.fakediscord.fixtures import running_client

DEFAULT_AGENTS: tuple[str, ...] = ("alice", "bob")
#: Generous ceilings: these must pass on a loaded 2-core machine.
WAIT_S = 20.0


def agents_toml(fake: FakeDiscord, names: Sequence[str], **extra: Mapping[str, Any]) -> str:
    """An AGENTS_FILE for `names`, each with the fake's user id (plus `extra[name]` keys)."""
    lines: list[str] = []
    for name in names:
        lines.append("[[agents]]")
        lines.append(f'id = "{name}"')
        if name in fake.agents:
            lines.append(f"discord_user_id = {fake.agents[name].id}")
        for key, value in extra.get(name, {}).items():
            lines.append(f"{key} = {value!r}".replace("'", '"'))
        lines.append("")
    return "\n".join(lines)


def harness_settings(fake: FakeDiscord, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "discord_token": fake.token,
        "discord_guild_id": fake.guild_id,
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.ws_url,
        "admin_role_id": fake.admin_role.id,
        "calendar_url": f"sqlite:///{tmp_path / 'calendar.db'}",
        "state_path": tmp_path / "state.db",
        "agents_file": tmp_path / "agents.toml",
        "check_interval_s": 3600,
        "sync_interval_s": 3600,
        "channel_retention_s": 3600,
        "log_level": "DEBUG",
    }
    values.update(overrides)
    return load_settings(**values)


@contextlib.asynccontextmanager
async def started(
    fake: FakeDiscord,
    bot: ModeratorBot,
    ready_timeout: float = WAIT_S,
    *,
    slow_exit_ok: bool = False,
) -> AsyncIterator[ModeratorBot]:
    """Run an opened `bot` as `python -m bot` does (`bot.start(token)` in the background)
    until READY, the guild cached and the moderator started; close it on exit.

    Re-raises whatever made `start` fail before it was ready. The bot gets 10 s to
    stop after `close()`; past that the exit fails, unless `slow_exit_ok` (benchmarks,
    whose figures are taken by then).
    """
    async with running_client(
        fake,
        bot,
        lambda: (
            bot.is_ready()
            and bot.get_guild(fake.guild_id) is not None
            and bot.moderator_started.is_set()
        ),
        ready_timeout,
        what="ModeratorBot READY with the guild cached and the moderator started",
        slow_exit_ok=slow_exit_ok,
    ):
        yield bot
