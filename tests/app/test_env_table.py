"""The bad-input table for the environment (DESIGN §8): every variable, every class of mistake.

Per variable: a wrong type, out of range, a huge (10 MB) value and garbage. Each
must be refused by `load_settings` with the variable named, a short message
(the value cut, a token never echoed), and exit status 2 from `check-config`.
"""

from __future__ import annotations

import pytest

from bot.__main__ import main
from bot.app.errors import ConfigError
from bot.app.settings import load_settings
from bot.core.shards import Shard
from tests.app.test_settings import ALL_VARS

HUGE = "9" * (10 * 1024 * 1024)
SECRET = "s3cr3t-token-value-that-must-never-show"

#: Each variable's bad values, by class of mistake.
#: `SPAWN_ENV` is checked by its feature (DESIGN §5).
BAD_VALUES: dict[str, dict[str, str]] = {
    "DISCORD_TOKEN": {"whitespace": "abc def", "blank": "   ", "line-break": SECRET + "\n"},
    "DISCORD_GUILD_ID": {
        "wrong-type": "my-guild",
        "out-of-range": "0",
        "too-big": str(2**64),
        "float": "1.5",
    },
    "DISCORD_API_BASE": {
        "garbage": "not a url",
        "bad-port": "https://discord.com:99999/api",
        "no-host": "https:///api",
    },
    "DISCORD_GATEWAY_URL": {
        "wrong-scheme": "http://gateway.discord.gg",
        "space": "wss://gateway .discord.gg",
    },
    "WAKE_CATEGORY": {"too-long": "c" * 101, "blank": "   ", "control-char": "wake\x07ups"},
    "ADMIN_ROLE_ID": {"negative": "-1", "wrong-type": "admins"},
    "CALENDAR_URL": {
        "bad-port": "http://calendar.example:99999",
        "port-zero": "http://calendar.example:0",
        "space": "http://calendar example:8080",
        "no-host": "http://:8080",
        "unknown-scheme": "ftp://calendar.example",
        "empty-sqlite-path": "sqlite:///",
        "postgres-bad-port": "postgresql://db.example:70000/cal",
        "caldav-no-host": "caldav+https:///dav/",
    },
    "CALENDAR_TOKEN": {"whitespace": "tok en", "too-long": "t" * 5000},
    "TIMEZONE": {"garbage": "Mars/Olympus", "path": "../../etc/passwd"},
    "SYNC_INTERVAL_S": {
        "too-small": "0.5",
        "too-big": "86401",
        "nan": "nan",
        "wrong-type": "five minutes",
    },
    "CHECK_INTERVAL_S": {"tiny": "1e-9", "too-big": "3601", "infinite": "inf"},
    "MISFIRE_GRACE_S": {"negative": "-1", "too-big": "1e300"},
    "CHANNEL_RETENTION_S": {"negative": "-5", "too-big": "1e12"},
    "WAKE_TEMPLATE": {"unknown-field": "Hi {agent}", "too-long": "{prompt}" + "x" * 7000},
    "SPAWN_URL": {
        "wrong-scheme": "file:///etc/passwd",
        "bad-port": "http://hooks.example:65536/wake",
        "unclosed-ipv6": "http://[::1/wake",
    },
    "SPAWN_COMMAND": {
        "unbalanced-quote": "run 'oops",
        "blank": "   ",
        "101-arguments": "run" + " x" * 100,
        "4097-characters": "run " + "x" * 4094,
    },
    "CALENDAR_LISTEN": {
        "no-port": "127.0.0.1",
        "port-out-of-range": "127.0.0.1:65536",
        "port-zero": "127.0.0.1:0",
        "space": "127.0.0.1 :8080",
    },
    "LOG_LEVEL": {"garbage": "LOUD"},
    "LOG_FORMAT": {"garbage": "xml"},
    "CALENDAR_TOKEN_PREVIOUS": {"whitespace": "old token"},
    "CALENDAR_USERNAME": {"colon": "ada:secret", "line-break": "ada\n", "too-long": "u" * 300},
    "CALENDAR_PASSWORD": {"control-char": "pass\x07word"},
    "CALDAV_POLL_S": {"too-small": "0.5", "too-big": "3601", "nan": "nan", "wrong-type": "often"},
    "METRICS_LISTEN": {"port-out-of-range": "0.0.0.0:99999", "unbracketed-ipv6": "::1:9100"},
    "SHARD": {
        "index-equals-count": "2/2",
        "negative": "-1/3",
        "letters": "a/b",
        "zero-shards": "0/0",
    },
    "ALERT_CHANNEL_ID": {"zero": "0", "wrong-type": "#alerts"},
}
#: (variable, class, value): BAD_VALUES one case a row.
CASES: list[tuple[str, str, str]] = [
    (variable, kind, value)
    for variable, values in BAD_VALUES.items()
    for kind, value in values.items()
]
#: Huge values for every variable with a value of its own (the files it names are other tables).
HUGE_CASES = [
    (name, "huge", HUGE)
    for name in ALL_VARS
    if name not in ("SPAWN_ENV", "AGENTS_FILE", "STATE_PATH")
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory) -> None:
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]


def _message(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> str:
    monkeypatch.setenv(variable, value)
    if variable == "DISCORD_TOKEN":
        monkeypatch.setenv("DISCORD_GUILD_ID", "1234")
    with pytest.raises(ConfigError) as info:
        load_settings()
    return str(info.value)


@pytest.mark.parametrize(
    ("variable", "kind", "value"),
    CASES + HUGE_CASES,
    ids=[f"{v}-{k}" for v, k, _ in CASES + HUGE_CASES],
)
def test_a_bad_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, kind: str, value: str
) -> None:
    message = _message(monkeypatch, variable, value)
    assert f"{variable}:" in message
    assert len(message) < 600  # the value is cut, never echoed whole
    if "TOKEN" in variable:
        assert value.strip() not in message or not value.strip()
        assert SECRET not in message


def test_a_token_pasted_into_another_variable_is_not_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALENDAR_TOKEN", SECRET)
    message = _message(monkeypatch, "TIMEZONE", SECRET)
    assert "TIMEZONE:" in message and SECRET not in message


@pytest.mark.parametrize(
    ("variable", "kind", "value"),
    [c for c in CASES if c[1] in ("bad-port", "tiny", "index-equals-count", "whitespace")]
    + [("SYNC_INTERVAL_S", "huge", HUGE)],
    ids=lambda v: str(v)[:20],
)
def test_check_config_exits_2_for_a_bad_value(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    kind: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["check-config"]) == 2
    out, err = capsys.readouterr()
    assert f"{variable}:" in err and "PROBLEMS FOUND" in out and "valid." not in out
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CALENDAR_URL", "postgresql://moderator@db.example:5432/calendar"),
        ("CALENDAR_URL", "caldav+https://dav.example/calendars/team/"),
        ("CALENDAR_URL", "http://[::1]:8080"),
        ("SHARD", "1/3"),
        ("METRICS_LISTEN", "[::1]:9100"),
        ("SYNC_INTERVAL_S", "86400"),
        ("CHECK_INTERVAL_S", "1"),
        ("CALDAV_POLL_S", "3600"),
        ("CALENDAR_USERNAME", "ada@example.org"),
    ],
)
def test_good_edge_values_are_accepted(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    accepted = getattr(load_settings(), variable.lower())
    assert accepted == (float(value) if variable.endswith("_S") else value)


def test_shard_is_exposed_as_index_and_count(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().shard_config is None
    monkeypatch.setenv("SHARD", "1/3")
    assert load_settings().shard_config == Shard(1, 3)


def test_a_caldav_server_that_cannot_be_reached_is_exit_2_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pytest.TempPathFactory,
) -> None:
    """Port 1 of loopback answers nothing: check-config and the CLI say which URL cannot be
    reached, never with the password. (The bot's start waits for the server instead, trying
    again: tests/caldav/test_server_unreachable_at_start_up.py.)"""
    monkeypatch.setenv("CALENDAR_URL", "caldav+http://ada:hunter2-secret@127.0.0.1:1/dav/")
    monkeypatch.setenv("SPAWN_COMMAND", "true")
    with open("agents.toml", "w") as file:
        file.write('[[agents]]\nid = "ada"\n')
    assert main(["check-config"]) == 2
    out, err = capsys.readouterr()
    assert "CALENDAR_URL" in err + out and "127.0.0.1:1" in err + out
    assert "hunter2-secret" not in err + out
    # A CLI command fails as it does with any calendar it cannot reach (exit 1), naming it.
    assert main(["calendar", "list", "--agent", "ada"]) == 1
    out, err = capsys.readouterr()
    assert "127.0.0.1:1" in err and "unreachable" in err and "hunter2-secret" not in err + out
