"""Configuration: one pydantic-settings class read from the environment and `.env` (DESIGN §8).

Every error names the variable (and, for the agents file, the file and line) so
that a person can fix it at once; secrets never appear in repr, logs or errors.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.app.logs import redact
from bot.core.agents import AgentConfig
from bot.core.models import AGENT_ID_PATTERN, is_valid_agent_id
from bot.core.prompt import DEFAULT_WAKE_TEMPLATE, template_problems

DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
DEFAULT_DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
SECRET_FIELDS = frozenset({"discord_token", "calendar_token"})
#: Longest interval or grace accepted (10 years): `inf` or 1e300 would pass `gt=0`, then
#: overflow every `timedelta` built from it and silently kill the timers that wake agents.
MAX_DURATION_S = 10 * 365 * 86400.0


class ConfigError(Exception):
    """A configuration problem a person must fix; the message is safe to print."""


_HTTP = ("http", "https")


def _is_url(value: str, schemes: tuple[str, ...]) -> bool:
    """Whether `value` is a URL with one of `schemes` and a host: what every URL setting needs."""
    parsed = urlparse(value)
    return parsed.scheme in schemes and bool(parsed.netloc)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
    )

    discord_token: SecretStr | None = None
    discord_guild_id: int | None = Field(default=None, gt=0)
    discord_api_base: str = DEFAULT_DISCORD_API_BASE
    discord_gateway_url: str = DEFAULT_DISCORD_GATEWAY_URL
    wake_category: str = Field(default="agent-wakeups", min_length=1, max_length=100)
    admin_role_id: int | None = Field(default=None, gt=0)
    calendar_url: str = "sqlite:///calendar.db"
    calendar_token: SecretStr | None = None
    agents_file: Path = Path("agents.toml")
    timezone: str = "UTC"
    sync_interval_s: float = Field(default=300.0, gt=0, le=MAX_DURATION_S, allow_inf_nan=False)
    check_interval_s: float = Field(default=30.0, gt=0, le=MAX_DURATION_S, allow_inf_nan=False)
    misfire_grace_s: float | None = Field(
        default=None, ge=0, le=MAX_DURATION_S, allow_inf_nan=False
    )
    channel_retention_s: float = Field(
        default=86400.0, ge=0, le=MAX_DURATION_S, allow_inf_nan=False
    )
    wake_template: str = DEFAULT_WAKE_TEMPLATE
    spawn_url: str | None = None
    spawn_command: str | None = None
    state_path: Path = Path("state.db")
    calendar_listen: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from exc
        return value

    @field_validator("calendar_url")
    @classmethod
    def _calendar_scheme(cls, value: str) -> str:
        if value.startswith("sqlite:///") and len(value) > len("sqlite:///"):
            return value
        if _is_url(value, _HTTP):
            return value.rstrip("/")
        raise ValueError(
            "must be sqlite:///<path> (the embedded calendar) or http(s)://host[:port]"
        )

    @field_validator("discord_api_base", "spawn_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _is_url(value, _HTTP):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/")

    @field_validator("discord_gateway_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not _is_url(value, ("ws", "wss")):
            raise ValueError("must be a ws:// or wss:// URL")
        return value

    @field_validator("spawn_command")
    @classmethod
    def _argv_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot be split into arguments ({exc})") from exc
        if not argv:
            raise ValueError("is empty")
        return value

    @field_validator("calendar_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parse_host_port(value)
        return value

    @field_validator("wake_template")
    @classmethod
    def _template_fields(cls, value: str) -> str:
        problems = template_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _discord_needs_guild(self) -> Settings:
        if self.discord_token is not None and self.discord_guild_id is None:
            raise ValueError(
                "DISCORD_GUILD_ID: must be set when DISCORD_TOKEN is set "
                "(the guild where wake channels are made)"
            )
        return self

    # ---- derived views -------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def discord_enabled(self) -> bool:
        return self.discord_token is not None

    @property
    def spawn_argv(self) -> tuple[str, ...] | None:
        return tuple(shlex.split(self.spawn_command)) if self.spawn_command else None

    @property
    def calendar_is_embedded(self) -> bool:
        return self.calendar_url.startswith("sqlite:///")

    @property
    def calendar_db_path(self) -> Path:
        """The embedded calendar's file; only meaningful when `calendar_is_embedded`."""
        return Path(self.calendar_url.removeprefix("sqlite:///"))

    @property
    def listen_address(self) -> tuple[str, int] | None:
        return parse_host_port(self.calendar_listen) if self.calendar_listen else None

    def masked(self) -> dict[str, str]:
        """Every setting as text for people, secrets shown only as set/unset."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                shown[name.upper()] = "****** (set)" if value is not None else "(unset)"
            else:
                shown[name.upper()] = "(unset)" if value is None else str(value)
        return shown


def parse_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} must be host:port, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def _describe(error: dict[str, Any], secrets: Sequence[str] = ()) -> str:
    loc = error.get("loc") or ()
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:
        return message
    field = str(loc[0])
    if field in SECRET_FIELDS:
        return f"{field.upper()}: {message}"
    raw = error.get("input")
    shown = ""
    if isinstance(raw, str | int | float):
        # A token pasted into the wrong variable must not be echoed back.
        text = str(raw)
        if redact(text, secrets) != text:
            shown = " (the value is not shown: it looks like a token)"
        else:
            shown = f" (got {raw!r})"
    return f"{field.upper()}: {message}{shown}"


def _secret_values(overrides: Mapping[str, Any]) -> list[str]:
    """The token values given anywhere, to keep them out of an error about another field."""
    found: list[str] = []
    env_file = overrides.get("_env_file", Settings.model_config.get("env_file"))
    file_values: dict[str, str | None] = {}
    if isinstance(env_file, str | Path) and Path(env_file).is_file():
        with contextlib.suppress(OSError, ValueError):
            file_values = {k.lower(): v for k, v in dotenv_values(env_file).items()}
    environ = {k.lower(): v for k, v in os.environ.items()}
    for name in SECRET_FIELDS:
        for value in (overrides.get(name), environ.get(name), file_values.get(name)):
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, str) and value:
                found.append(value)
    return found


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one clear `ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        secrets = _secret_values(overrides)
        lines = [_describe(dict(err), secrets) for err in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def load_config() -> tuple[Settings, list[AgentConfig]]:
    """The settings and the agents they point at: what every command that runs agents needs."""
    settings = load_settings()
    return settings, load_agents(settings.agents_file)


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
