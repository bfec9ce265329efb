"""Configuration: one pydantic-settings class read from the environment and `.env` (DESIGN §8).

Every error names the variable (and, for the agents file, the file and line) so
that a person can fix it at once; secrets never appear in repr, logs or errors.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.app.agents_file import load_agents
from bot.app.env_file import SettingPath, check_env_file, env_file_path, env_file_values
from bot.app.errors import ConfigError
from bot.app.logs import redact
from bot.app.value_checks import (
    CALDAV,
    HTTP,
    MAX_VALUE_CHARS,
    POSTGRES,
    SHOWN_CHARS,
    WEBSOCKET,
    check_shard,
    check_url,
    has_blank,
    parse_host_port,
    shown,
    split_command,
)
from bot.calendar.caldav.urls import CaldavAccount, caldav_account
from bot.calendar.pg.urls import shown_url, url_passwords
from bot.core.agents import AgentConfig
from bot.core.prompt import DEFAULT_WAKE_TEMPLATE, template_problems
from bot.core.shards import Shard, parse_shard
from bot.wakers.spawn_env import parse_spawn_env

DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
DEFAULT_DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
SECRET_FIELDS = frozenset(
    {"discord_token", "calendar_token", "calendar_token_previous", "calendar_password"}
)
#: Discord ids are 64-bit snowflakes; a bigger number would overflow the state file's columns.
MAX_SNOWFLAKE = 2**63 - 1
#: DESIGN §8 bounds. A grace beyond a week or a retention beyond a year is a typo (seconds
#: meant as minutes), and `inf`/1e300 would overflow every `timedelta` built from them.
MAX_SYNC_INTERVAL_S = 86400.0
MAX_CHECK_INTERVAL_S = 3600.0
MAX_MISFIRE_GRACE_S = 7 * 86400.0
MAX_CHANNEL_RETENTION_S = 365 * 86400.0
#: A wake template longer than this could not be posted within Discord's limits anyway.
MAX_TEMPLATE_CHARS = 6000
#: Longest token accepted; Discord's are ~70 characters, ours are free-form but sane.
MAX_TOKEN_CHARS = 1024


#: The settings that may be unset but, once set, must read as their kind: each reader
#: raises ValueError saying what is wrong (checked in one place, so unset passes alike).
_SET_SHAPES: dict[str, Callable[[str], object]] = {
    "calendar_listen": parse_host_port,
    "metrics_listen": parse_host_port,
    "shard": check_shard,
    "spawn_command": split_command,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
    )

    discord_token: SecretStr | None = None
    discord_guild_id: int | None = Field(default=None, gt=0, le=MAX_SNOWFLAKE)
    discord_api_base: str = DEFAULT_DISCORD_API_BASE
    discord_gateway_url: str = DEFAULT_DISCORD_GATEWAY_URL
    wake_category: str = Field(default="agent-wakeups", min_length=1, max_length=100)
    admin_role_id: int | None = Field(default=None, gt=0, le=MAX_SNOWFLAKE)
    calendar_url: str = "sqlite:///calendar.db"
    calendar_token: SecretStr | None = None
    agents_file: SettingPath = Path("agents.toml")
    timezone: str = "UTC"
    sync_interval_s: float = Field(default=300.0, ge=1, le=MAX_SYNC_INTERVAL_S, allow_inf_nan=False)
    check_interval_s: float = Field(
        default=30.0, ge=1, le=MAX_CHECK_INTERVAL_S, allow_inf_nan=False
    )
    misfire_grace_s: float | None = Field(
        default=None, ge=0, le=MAX_MISFIRE_GRACE_S, allow_inf_nan=False
    )
    channel_retention_s: float = Field(
        default=86400.0, ge=0, le=MAX_CHANNEL_RETENTION_S, allow_inf_nan=False
    )
    wake_template: str = Field(default=DEFAULT_WAKE_TEMPLATE, max_length=MAX_TEMPLATE_CHARS)
    spawn_url: str | None = None
    spawn_command: str | None = None
    state_path: SettingPath = Path("state.db")
    calendar_listen: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # DESIGN v2 (§3.3, §5, §11): read here so every engineer extends one class; each one's
    # checks and use live with the feature that needs it.
    calendar_token_previous: SecretStr | None = None
    spawn_env: str | None = None
    metrics_listen: str | None = None
    shard: str | None = None
    alert_channel_id: int | None = Field(default=None, gt=0, le=MAX_SNOWFLAKE)
    # The CalDAV backend (DESIGN §10): its account, and how often its collections are asked.
    calendar_username: str | None = Field(default=None, min_length=1, max_length=256)
    calendar_password: SecretStr | None = None
    caldav_poll_s: float = Field(default=15.0, ge=1, le=3600, allow_inf_nan=False)

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
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from exc
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _not_huge(cls, value: Any) -> Any:
        """A value of megabytes is refused before any rule (or regex) runs over it."""
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            raise ValueError(f"is {len(value)} characters long; at most {MAX_VALUE_CHARS}")
        return value

    @field_validator("discord_token", "calendar_token", "calendar_token_previous", mode="before")
    @classmethod
    def _token_shape(cls, value: Any) -> Any:
        """A token with a space or a line break is a copy-paste accident; never echoed."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str):
            if not text.strip():
                raise ValueError("is blank; set the token or leave the variable out")
            if has_blank(text):
                raise ValueError("contains whitespace or control characters (a copy-paste slip?)")
            if len(text) > MAX_TOKEN_CHARS:
                raise ValueError(f"is longer than {MAX_TOKEN_CHARS} characters")
        return value

    @field_validator("calendar_username")
    @classmethod
    def _username_shape(cls, value: str | None) -> str | None:
        if value is not None and (has_blank(value) or ":" in value):
            raise ValueError("must not hold whitespace, control characters or ':'")
        return value

    @field_validator("calendar_password", mode="before")
    @classmethod
    def _password_shape(cls, value: Any) -> Any:
        """Never echoed; a line break in it is a copy-paste slip HTTP would refuse anyway."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and (not text or any(ord(ch) < 32 for ch in text)):
            raise ValueError("is empty or holds control characters")
        return value

    @field_validator("wake_category")
    @classmethod
    def _category_name(cls, value: str) -> str:
        if not value.strip() or any(ord(ch) < 32 for ch in value):
            raise ValueError("must be a category name (1 to 100 characters, not blank)")
        return value

    @field_validator("calendar_url")
    @classmethod
    def _calendar_url(cls, value: str) -> str:
        if value.startswith("sqlite:///"):
            path = value.removeprefix("sqlite:///")
            if not path.strip() or any(ord(ch) < 32 for ch in path):
                raise ValueError("must be sqlite:///<path of the calendar file>")
            return value
        scheme = value.partition("://")[0].lower()
        if scheme in POSTGRES or scheme in CALDAV:
            check_url(value, POSTGRES + CALDAV)
            return value
        try:
            check_url(value, HTTP)
        except ValueError as exc:
            if scheme in HTTP:
                raise
            raise ValueError(
                "must be sqlite:///<path> (the embedded calendar), http(s)://host[:port] "
                "(a calendar server), postgresql://… or caldav+http(s)://…"
            ) from exc
        return value.rstrip("/")

    @field_validator("discord_api_base", "spawn_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        check_url(value, HTTP)
        return value.rstrip("/")

    @field_validator("discord_gateway_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        check_url(value, WEBSOCKET)
        return value

    @field_validator(*_SET_SHAPES)
    @classmethod
    def _set_shape(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            assert info.field_name is not None
            _SET_SHAPES[info.field_name](value)
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
        return split_command(self.spawn_command) if self.spawn_command else None

    @property
    def shard_config(self) -> Shard | None:
        """`SHARD` as a `Shard`; None when this moderator handles every agent."""
        return parse_shard(self.shard) if self.shard else None

    @property
    def calendar_scheme(self) -> str:
        """Which kind of calendar `CALENDAR_URL` names: sqlite, http(s), postgresql, caldav+…"""
        return self.calendar_url.partition("://")[0].lower()

    @property
    def calendar_is_embedded(self) -> bool:
        return self.calendar_url.startswith("sqlite:///")

    @property
    def calendar_is_postgres(self) -> bool:
        """A PostgreSQL calendar: a store this process opens itself, like the SQLite file."""
        return self.calendar_scheme in POSTGRES

    @property
    def calendar_is_caldav(self) -> bool:
        """A CalDAV calendar home (DESIGN §10): this process keeps its own copy of it."""
        return self.calendar_scheme in CALDAV

    @property
    def caldav_account(self) -> CaldavAccount:
        """The CalDAV home of `CALENDAR_URL` and the account for it (the URL's own, else
        `CALENDAR_USERNAME` / `CALENDAR_PASSWORD`)."""
        password = self.calendar_password
        secret = password.get_secret_value() if password is not None else None
        return caldav_account(self.calendar_url, self.calendar_username, secret)

    @property
    def calendar_opened_here(self) -> bool:
        """The calendar is opened by this process (SQLite, PostgreSQL, CalDAV), not a server's."""
        return self.calendar_is_embedded or self.calendar_is_postgres or self.calendar_is_caldav

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
            if name in SECRET_FIELDS or name == "spawn_url":  # a webhook URL may hold a token
                shown[name.upper()] = "****** (set)" if value is not None else "(unset)"
            elif name in ("calendar_url", "discord_api_base"):
                # A user:password@ is hidden, and a database or CalDAV URL's query (it may
                # hold a password) is dropped, as the URL shows everywhere else.
                whole = name == "calendar_url" and (
                    self.calendar_is_postgres or self.calendar_is_caldav
                )
                shown[name.upper()] = shown_url(value) if whole or url_passwords(value) else value
            else:
                shown[name.upper()] = "(unset)" if value is None else str(value)
        return shown


def _describe(error: dict[str, Any], secrets: Sequence[str] = ()) -> str:
    loc = error.get("loc") or ()
    # A validator's own sentence may quote the value: a token pasted there is blanked too.
    message = redact(str(error.get("msg", "invalid value")).removeprefix("Value error, "), secrets)
    if not loc:
        return message
    field = str(loc[0])
    if field in SECRET_FIELDS:
        return f"{field.upper()}: {message}"
    raw = error.get("input")
    if field == "calendar_url" and isinstance(raw, str):
        raw = shown_url(raw)  # a PostgreSQL URL's password is never echoed, however short
    echo = ""
    if isinstance(raw, str | int | float):
        # A token pasted into the wrong variable must not be echoed back.
        # Only the start is ever shown; any secret starting there is wholly inside this cut.
        text = str(raw)[: SHOWN_CHARS + MAX_TOKEN_CHARS]
        if redact(text, secrets) != text:
            echo = " (the value is not shown: it looks like a token)"
        else:
            echo = f" (got {shown(raw)})"
    return f"{field.upper()}: {message}{echo}"


def _secret_values(overrides: Mapping[str, Any], env_file: Path | None) -> list[str]:
    """The token values given anywhere, to keep them out of an error about another field."""
    found: list[str] = []
    file_values = env_file_values(env_file)
    environ = {k.lower(): v for k, v in os.environ.items()}
    for name in SECRET_FIELDS:
        for value in (overrides.get(name), environ.get(name), file_values.get(name)):
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, str) and value:
                found.append(value)
    for url in (overrides.get("calendar_url"), environ.get("calendar_url")):
        if isinstance(url, str):
            found += url_passwords(url)
    found += url_passwords(file_values.get("calendar_url") or "")
    return found


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one clear `ConfigError`."""
    env_file = env_file_path(overrides, Settings.model_config.get("env_file"))
    note = check_env_file(env_file)
    if note is not None:  # before the settings it leaves out are reported missing
        print(f"warning: {note}", file=sys.stderr)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        secrets = _secret_values(overrides, env_file)
        lines = [_describe(dict(err), secrets) for err in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def load_config() -> tuple[Settings, list[AgentConfig]]:
    """The settings and the agents they point at: what every command that runs agents needs."""
    settings = load_settings()
    return settings, load_agents(settings.agents_file)
