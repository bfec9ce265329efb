"""The agents file (`AGENTS_FILE`, DESIGN §8): TOML `[[agents]]` tables read into `AgentConfig`.

Kept apart from the settings because it is a file of its own with its own error
positions: every error names the file and the entry's line, so a person can fix it at once.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from bot.app.errors import ConfigError
from bot.app.value_checks import HTTP, check_command, check_url, split_command
from bot.core.agents import AgentConfig
from bot.core.models import AGENT_ID_PATTERN, is_valid_agent_id
from bot.core.tokens import MAX_TOKEN_GENERATION

#: Bounds that keep a mistaken or hostile file a clear error instead of a slow start:
#: a file is read whole, and every agent costs a scheduler and a sync per cycle.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_AGENTS = 2000
#: One URL.
MAX_TEXT = 4096
#: Discord ids are 64-bit; SQLite (the state store) holds at most this.
MAX_SNOWFLAKE = 2**63 - 1
_KEYS = frozenset({"id", "discord_user_id", "spawn_url", "spawn_command", "token_generation"})

_AGENTS_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*agents[ \t]*\]\]", re.MULTILINE)


def load_agents(path: Path) -> list[AgentConfig]:
    """Parse `AGENTS_FILE`; every error names the file and the entry's line."""
    try:
        with path.open("rb") as file:
            # Bounded: AGENTS_FILE=/dev/zero must be an error, not a process eating memory.
            raw = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"AGENTS_FILE: {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"AGENTS_FILE: cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"AGENTS_FILE: {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"AGENTS_FILE: {path}:{line}: not UTF-8 text") from None
    return parse_agents(text, source=str(path))


def parse_agents(text: str, source: str = "<agents>") -> list[AgentConfig]:
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(f"AGENTS_FILE: {source} is larger than {MAX_FILE_BYTES} bytes")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib (3.11) puts the position only in its message: "... (at line 3, column 21)".
        at = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = f"{source}:{at.group(1)}" if at else source
        raise ConfigError(f"AGENTS_FILE: {where}: not valid TOML: {exc}") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively, without a limit of its own.
        raise ConfigError(
            f"AGENTS_FILE: {source}: arrays or tables are nested too deeply to be an agents file"
        ) from None
    unknown = set(data) - {"agents"}
    if unknown:
        raise ConfigError(
            f"AGENTS_FILE: {source}: unknown top-level key(s) {_names(unknown)} "
            "(the file holds only [[agents]] tables)"
        )
    entries = data.get("agents", [])
    if not isinstance(entries, list):
        raise ConfigError(f"AGENTS_FILE: {source}: 'agents' must be written as [[agents]] tables")
    if len(entries) > MAX_AGENTS:
        raise ConfigError(
            f"AGENTS_FILE: {source}: {len(entries)} agents; one moderator runs at most {MAX_AGENTS}"
        )
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


def _names(keys: set[str]) -> str:
    return ", ".join(_shown(key) for key in sorted(keys)[:5]) + (" …" if len(keys) > 5 else "")


def _shown(value: object) -> str:
    """A value quoted for an error, cut short: a hostile file may hold a megabyte in one string."""
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _parse_agent(entry: Any, where: str) -> AgentConfig:
    if not isinstance(entry, dict):
        raise ConfigError(f"AGENTS_FILE: {where}: each agent must be a [[agents]] table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ConfigError(f"AGENTS_FILE: {where}: unknown key(s) {_names(unknown)}")
    agent_id = entry.get("id")
    if not isinstance(agent_id, str) or not is_valid_agent_id(agent_id):
        raise ConfigError(
            f"AGENTS_FILE: {where}: id {_shown(agent_id)} must match {AGENT_ID_PATTERN} "
            "(lowercase; it becomes a channel name)"
        )
    return AgentConfig(
        id=agent_id,
        discord_user_id=_user_id(entry.get("discord_user_id"), agent_id, where),
        spawn_url=_spawn_url(entry.get("spawn_url"), agent_id, where),
        spawn_command=_spawn_command(entry.get("spawn_command"), where),
        token_generation=_generation(entry.get("token_generation", 1), agent_id, where),
    )


def _user_id(value: Any, agent_id: str, where: str) -> int | None:
    # A digit string is accepted: a snowflake is often copied as text (JSON cannot hold it).
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_SNOWFLAKE
    ):
        raise ConfigError(
            f"AGENTS_FILE: {where}: discord_user_id of {agent_id!r} must be a positive integer "
            f"(a Discord user id, at most {MAX_SNOWFLAKE})"
        )
    return value


def _spawn_url(value: Any, agent_id: str, where: str) -> str | None:
    """Held to SPAWN_URL's rule (`check_url`), so a bad port or host fails at start, not at
    every wake."""
    if value is None:
        return None
    why = ""
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        try:
            check_url(value, HTTP)
        except ValueError as exc:  # also "http://[::1" (an unclosed IPv6 address)
            why = f": it {exc}"
        else:
            return value
    raise ConfigError(
        f"AGENTS_FILE: {where}: spawn_url of {agent_id!r} must be an http(s) URL "
        f"of at most {MAX_TEXT} characters{why}"
    )


def _spawn_command(value: Any, where: str) -> tuple[str, ...] | None:
    """A line split as SPAWN_COMMAND is, or a TOML list of the arguments as they are."""
    try:
        if isinstance(value, str):
            return split_command(value)
        if isinstance(value, list) and all(isinstance(part, str) for part in value):
            return check_command(tuple(value))
    except ValueError as exc:
        raise ConfigError(f"AGENTS_FILE: {where}: spawn_command {exc}") from None
    if value is not None:
        raise ConfigError(
            f"AGENTS_FILE: {where}: spawn_command must be a string or a list of strings"
        )
    return None


def _generation(value: Any, agent_id: str, where: str) -> int:
    # Exactly a TOML integer: "2", 2.0 or true would each be a guess at what was meant.
    if not isinstance(value, int) or isinstance(value, bool):
        got = f"a {type(value).__name__}"
    elif not 1 <= value <= MAX_TOKEN_GENERATION:
        got = _shown(value)
    else:
        return value
    raise ConfigError(
        f"AGENTS_FILE: {where}: token_generation of {agent_id!r} must be a whole number "
        f"1..{MAX_TOKEN_GENERATION} (got {got}); raise it by one to revoke the agent's tokens"
    )
