"""Config: every bad value names its variable; secrets never leak into repr or errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.errors import ConfigError
from bot.app.settings import Settings, load_settings
from bot.core.prompt import DEFAULT_WAKE_TEMPLATE

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.super-secret-token-value-123"

ALL_VARS = [
    "DISCORD_TOKEN",
    "DISCORD_GUILD_ID",
    "DISCORD_API_BASE",
    "DISCORD_GATEWAY_URL",
    "WAKE_CATEGORY",
    "ADMIN_ROLE_ID",
    "CALENDAR_URL",
    "CALENDAR_TOKEN",
    "AGENTS_FILE",
    "TIMEZONE",
    "SYNC_INTERVAL_S",
    "CHECK_INTERVAL_S",
    "MISFIRE_GRACE_S",
    "CHANNEL_RETENTION_S",
    "WAKE_TEMPLATE",
    "SPAWN_URL",
    "SPAWN_COMMAND",
    "STATE_PATH",
    "CALENDAR_LISTEN",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "CALENDAR_TOKEN_PREVIOUS",
    "SPAWN_ENV",
    "METRICS_LISTEN",
    "SHARD",
    "ALERT_CHANNEL_ID",
    "CALENDAR_USERNAME",
    "CALENDAR_PASSWORD",
    "CALDAV_POLL_S",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable from the developer's shell or a stray .env may leak into a test."""
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_match_the_design() -> None:
    settings = load_settings()
    assert settings.calendar_url == "sqlite:///calendar.db"
    assert settings.calendar_is_embedded
    assert settings.timezone == "UTC"
    assert settings.sync_interval_s == 300
    assert settings.check_interval_s == 30
    assert settings.misfire_grace_s is None
    assert settings.channel_retention_s == 86400
    assert settings.wake_category == "agent-wakeups"
    assert settings.state_path == Path("state.db")
    assert settings.log_format == "text"
    assert settings.wake_template == DEFAULT_WAKE_TEMPLATE
    assert not settings.discord_enabled


@pytest.mark.parametrize(
    ("variable", "value", "hint"),
    [
        ("TIMEZONE", "Mars/Olympus", "IANA"),
        ("SYNC_INTERVAL_S", "0", "greater than or equal to 1"),
        ("CHECK_INTERVAL_S", "-3", "greater than or equal to 1"),
        ("CHECK_INTERVAL_S", "soon", "number"),
        ("MISFIRE_GRACE_S", "-1", "greater than or equal to 0"),
        ("CHANNEL_RETENTION_S", "-5", "greater than or equal to 0"),
        ("CALENDAR_URL", "postgres://db/x", "sqlite:///"),
        ("CALENDAR_URL", "sqlite:///", "sqlite:///"),
        ("DISCORD_API_BASE", "discord.com/api", "http"),
        ("DISCORD_GATEWAY_URL", "https://gateway.discord.gg", "ws://"),
        ("SPAWN_URL", "ftp://x/y", "http"),
        ("SPAWN_COMMAND", "run 'unterminated", "cannot be split"),
        ("DISCORD_GUILD_ID", "abc", "integer"),
        ("ADMIN_ROLE_ID", "-4", "greater than 0"),
        ("CALENDAR_LISTEN", "8080", "host:port"),
        ("LOG_LEVEL", "LOUD", "DEBUG"),
        ("LOG_FORMAT", "xml", "text"),
        ("WAKE_TEMPLATE", "Hi {agent} {prompt}", "unknown field {agent}"),
        ("WAKE_TEMPLATE", "Hi {0}", "positional"),
        ("WAKE_TEMPLATE", "Hi {prompt", "not a valid template"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, hint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert variable in message
    assert hint in message


def test_token_without_guild_names_the_guild_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "DISCORD_GUILD_ID" in str(info.value)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        (
            "CALENDAR_URL",
            "postgresql://db.example/cal?password=hunter2",
            "postgresql://db.example/cal",
        ),
        (
            "CALENDAR_URL",
            "postgresql://ops:hunter2@db.example/cal",
            "postgresql://ops:***@db.example/cal",
        ),
        ("CALENDAR_URL", "http://ops:hunter2@cal.example:8080", "http://ops:***@cal.example:8080"),
        ("CALENDAR_URL", "http://cal.example:8080", "http://cal.example:8080"),
        (
            "DISCORD_API_BASE",
            "https://u:hunter2@discord.example/api",
            "https://u:***@discord.example/api",
        ),
        ("SPAWN_URL", "https://hooks.example/wake?key=hunter2", "****** (set)"),
    ],
    ids=["pg-query", "pg-userinfo", "http-userinfo", "http-plain", "api-base", "spawn-url"],
)
def test_check_config_shows_urls_without_their_passwords(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, shown: str
) -> None:
    """A password in a URL's user part, a database URL's query, or a webhook URL (its path or
    query may be the secret) never shows in `check-config`'s table."""
    monkeypatch.setenv(variable, value)
    masked = Settings().masked()
    assert masked[variable] == shown
    assert "hunter2" not in str(masked)


def test_tokens_never_show_in_repr_masked_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("CALENDAR_TOKEN", "calendar-secret-42")
    monkeypatch.setenv("DISCORD_GUILD_ID", "1234")
    settings = load_settings()
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == TOKEN
    for text in (repr(settings), str(settings), str(settings.masked())):
        assert TOKEN not in text
        assert "calendar-secret-42" not in text
    assert settings.masked()["DISCORD_TOKEN"] == "****** (set)"
    # An error elsewhere in the config must not echo the token either.
    monkeypatch.setenv("CHECK_INTERVAL_S", "nope")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert TOKEN not in str(info.value)
    assert "calendar-secret-42" not in str(info.value)


def test_empty_values_count_as_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MISFIRE_GRACE_S=\nWAKE_TEMPLATE=\nTIMEZONE=Asia/Shanghai\n")
    monkeypatch.setenv("SPAWN_URL", "")
    settings = load_settings()
    assert settings.misfire_grace_s is None
    assert settings.wake_template == DEFAULT_WAKE_TEMPLATE
    assert settings.spawn_url is None
    assert settings.timezone == "Asia/Shanghai"


def test_derived_views(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALENDAR_URL", "sqlite:///data/cal.db")
    monkeypatch.setenv("SPAWN_COMMAND", "agent-run --slot {slot_id} --prompt '{prompt}'")
    monkeypatch.setenv("CALENDAR_LISTEN", "127.0.0.1:8081")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.calendar_db_path == Path("data/cal.db")
    assert settings.spawn_argv == ("agent-run", "--slot", "{slot_id}", "--prompt", "{prompt}")
    assert settings.listen_address == ("127.0.0.1", 8081)
    assert settings.log_level == "DEBUG"
    assert str(settings.tz) == "UTC"


def test_http_calendar_url_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALENDAR_URL", "https://calendar.example.org/")
    settings = Settings()
    assert settings.calendar_url == "https://calendar.example.org"
    assert not settings.calendar_is_embedded


def test_env_example_names_every_variable() -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    text = example.read_text()
    for name in ALL_VARS:
        assert f"\n{name}=" in text, name
    assert {name.lower() for name in ALL_VARS} == set(Settings.model_fields)
