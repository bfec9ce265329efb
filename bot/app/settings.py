"""Configuration: one pydantic-settings class read from the environment and `.env` (DESIGN §8).

Every error names the variable (and, for the agents file, the file and line) so
that a person can fix it at once; secrets never appear in repr, logs or errors.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.app.agents_file import load_agents
from bot.app.errors import ConfigError
from bot.app.logs import redact
from bot.core.agents import AgentConfig
from bot.core.prompt import DEFAULT_WAKE_TEMPLATE, template_problems
from bot.wakers.spawn_env import parse_spawn_env

DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
DEFAULT_DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
SECRET_FIELDS = frozenset({"discord_token", "calendar_token", "calendar_token_previous"})
#: Longest interval or grace accepted (10 years): `inf` or 1e300 would pass `gt=0`, then
#: overflow every `timedelta` built from it and silently kill the timers that wake agents.
MAX_DURATION_S = 10 * 365 * 86400.0


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
    # DESIGN v2 (§3.3, §5, §11): read here so every engineer extends one class; each one's
    # checks and use live with the feature that needs it.
    calendar_token_previous: SecretStr | None = None
    spawn_env: str | None = None
    metrics_listen: str | None = None
    shard: str | None = None
    alert_channel_id: int | None = Field(default=None, gt=0)

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

    @field_validator("calendar_listen", "metrics_listen")
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
    def _spawn_env_names(self) -> Settings:
        # After, not per field: the error must not echo a (possibly 10,000-name) value.
        parse_spawn_env(self.spawn_env)
        return self

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
