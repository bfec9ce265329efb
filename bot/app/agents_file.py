"""The agents file (`AGENTS_FILE`, DESIGN §8): TOML `[[agents]]` tables read into `AgentConfig`.

Kept apart from the settings because it is a file of its own with its own error
positions: every error names the file and the entry's line, so a person can fix it at once.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bot.app.errors import ConfigError
from bot.core.agents import AgentConfig
from bot.core.models import AGENT_ID_PATTERN, is_valid_agent_id

_AGENTS_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*agents[ \t]*\]\]", re.MULTILINE)


def load_agents(path: Path) -> list[AgentConfig]:
    """Parse `AGENTS_FILE`; every error names the file and the entry's line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"AGENTS_FILE: {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"AGENTS_FILE: cannot read {path}: {exc.strerror}") from None
    return parse_agents(text, source=str(path))


def parse_agents(text: str, source: str = "<agents>") -> list[AgentConfig]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib (3.11) puts the position only in its message: "... (at line 3, column 21)".
        at = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = f"{source}:{at.group(1)}" if at else source
        raise ConfigError(f"AGENTS_FILE: {where}: not valid TOML: {exc}") from None
    entries = data.get("agents", [])
    if not isinstance(entries, list):
        raise ConfigError(f"AGENTS_FILE: {source}: 'agents' must be written as [[agents]] tables")
    header_lines = [text.count("\n", 0, m.start()) + 1 for m in _AGENTS_HEADER.finditer(text)]
    agents: list[AgentConfig] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        line = header_lines[index] if index < len(header_lines) else None
        where = f"{source}:{line}" if line else f"{source} (agent #{index + 1})"
        agent = _parse_agent(entry, where)
        if agent.id in seen:
            raise ConfigError(
                f"AGENTS_FILE: {where}: duplicate agent id {agent.id!r} "
                f"(first defined as agent #{seen[agent.id] + 1})"
            )
        seen[agent.id] = index
        agents.append(agent)
    return agents


def _parse_agent(entry: Any, where: str) -> AgentConfig:
    if not isinstance(entry, dict):
        raise ConfigError(f"AGENTS_FILE: {where}: each agent must be a [[agents]] table")
    unknown = set(entry) - {"id", "discord_user_id", "spawn_url", "spawn_command"}
    if unknown:
        raise ConfigError(f"AGENTS_FILE: {where}: unknown key(s) {', '.join(sorted(unknown))}")
    agent_id = entry.get("id")
    if not isinstance(agent_id, str) or not is_valid_agent_id(agent_id):
        raise ConfigError(
            f"AGENTS_FILE: {where}: id {agent_id!r} must match {AGENT_ID_PATTERN} "
            "(lowercase; it becomes a channel name)"
        )
    user_id = entry.get("discord_user_id")
    if isinstance(user_id, str) and user_id.isdigit():
        user_id = int(user_id)
    if user_id is not None and (
        not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0
    ):
        raise ConfigError(
            f"AGENTS_FILE: {where}: discord_user_id of {agent_id!r} must be a positive integer"
        )
    spawn_url = entry.get("spawn_url")
    if spawn_url is not None:
        parsed = urlparse(spawn_url) if isinstance(spawn_url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"AGENTS_FILE: {where}: spawn_url of {agent_id!r} must be http(s)")
    command = entry.get("spawn_command")
    argv: tuple[str, ...] | None = None
    if isinstance(command, str):
        try:
            argv = tuple(shlex.split(command))
        except ValueError as exc:
            raise ConfigError(f"AGENTS_FILE: {where}: spawn_command: {exc}") from None
    elif isinstance(command, list) and all(isinstance(part, str) for part in command):
        argv = tuple(command)
    elif command is not None:
        raise ConfigError(
            f"AGENTS_FILE: {where}: spawn_command must be a string or a list of strings"
        )
    if argv is not None and not argv:
        raise ConfigError(f"AGENTS_FILE: {where}: spawn_command is empty")
    return AgentConfig(
        id=agent_id, discord_user_id=user_id, spawn_url=spawn_url, spawn_command=argv
    )
