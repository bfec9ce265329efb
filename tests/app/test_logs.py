"""Logging: what reaches the stream is parseable and never carries a secret."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app.logs import NOISY_LOGGERS, RedactSecrets, redact, setup_logging

# Shaped like a real Discord bot token (made up): base64 user id, timestamp, HMAC.
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789AB"
OTHER_TOKEN = "OTg3NjU0MzIxMDk4NzY1NDMyMQ.Zz9Yy8.QWERTYUIOPasdfghjklzxcvbnm_-12345678"
CAL_TOKEN = "cal-secret-0123"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Our handler's stream; the root logger and library levels are restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_noisy = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield io.StringIO()
    for handler in list(root.handlers):
        if handler not in saved_handlers:
            root.removeHandler(handler)
    root.setLevel(saved_level)
    for name, level in saved_noisy.items():
        logging.getLogger(name).setLevel(level)


def _leak_everywhere(secret: str) -> None:
    """Log `secret` every way a library or our code might."""
    log = logging.getLogger("bot.test")
    log.info("token is %s", secret)
    log.warning(f"inline {secret}")
    logging.getLogger("discord.http").error(
        "request failed for %r", {"Authorization": f"Bot {secret}"}
    )
    logging.getLogger("aiohttp.client").warning("headers: Authorization: Bot %s", secret)
    try:
        raise RuntimeError(f"login failed with {secret}")
    except RuntimeError:
        log.exception("could not connect")
    try:
        try:
            raise ValueError(secret)
        except ValueError as inner:
            raise ConnectionError("wrapped") from inner
    except ConnectionError:
        logging.getLogger("discord.client").error("chained", exc_info=True)
    log.info("with stack %s", secret, stack_info=True)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_configured_secret_never_reaches_output(stream: io.StringIO, fmt: str) -> None:
    setup_logging("DEBUG", fmt, [TOKEN, CAL_TOKEN], stream=stream)  # type: ignore[arg-type]
    _leak_everywhere(TOKEN)
    _leak_everywhere(CAL_TOKEN)
    out = stream.getvalue()
    assert "login failed with ***" in out
    assert "Traceback" in out
    assert out.count("***") >= 14
    assert TOKEN not in out
    assert CAL_TOKEN not in out
    # no fragment long enough to rebuild either
    assert TOKEN[:20] not in out and TOKEN[-20:] not in out
    assert CAL_TOKEN[:8] not in out


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_token_shaped_strings_are_redacted_unconfigured(stream: io.StringIO, fmt: str) -> None:
    setup_logging("INFO", fmt, stream=stream)  # type: ignore[arg-type]
    _leak_everywhere(OTHER_TOKEN)
    logging.getLogger("bot.test").info("calendar said 401 to Bearer sk-abc123")
    logging.getLogger("bot.test").info("{'Authorization': 'Bot short'}")
    out = stream.getvalue()
    assert OTHER_TOKEN not in out
    assert OTHER_TOKEN.split(".")[0] not in out
    assert "sk-abc123" not in out and "Bearer ***" in out
    assert "short" not in out and "'Authorization': 'Bot ***'" in out


def test_json_lines_parse_and_carry_fields(stream: io.StringIO) -> None:
    setup_logging("INFO", "json", [TOKEN], stream=stream)
    log = logging.getLogger("bot.core.agent")
    log.info("woke %s", "slot-1", extra={"slot_id": "slot-1", "n": 3, "meta": {"k": [1, TOKEN]}})
    log.info("odd extra", extra={"obj": object(), "nan": float("nan")})
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.error("failed", exc_info=True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    for record in records:
        assert record["logger"] == "bot.core.agent"
        ts = record["ts"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts)
        parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        assert parsed.utcoffset() == UTC.utcoffset(None)
    first, second, third = records
    assert (first["level"], first["message"]) == ("INFO", "woke slot-1")
    assert first["slot_id"] == "slot-1" and first["n"] == 3
    assert first["meta"] == {"k": [1, "***"]}
    assert "exc_info" not in first
    assert second["message"] == "odd extra"
    assert "obj" not in second and "nan" not in second
    assert third["level"] == "ERROR"
    assert "ZeroDivisionError" in third["exc_info"]
    assert third["exc_info"].startswith("Traceback")


def test_text_format(stream: io.StringIO) -> None:
    setup_logging("info", "text", stream=stream)
    logging.getLogger("bot.x").warning("careful")
    logging.getLogger("bot.x").debug("hidden at INFO")
    line = stream.getvalue()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING bot\.x: careful\n", line)


def test_setup_twice_keeps_one_handler(stream: io.StringIO) -> None:
    root = logging.getLogger()
    setup_logging("INFO", "text", stream=stream)
    count = len(root.handlers)
    second = io.StringIO()
    setup_logging("INFO", "json", [TOKEN], stream=second)
    assert len(root.handlers) == count
    logging.getLogger("bot.x").info("once %s", TOKEN)
    assert stream.getvalue() == ""
    lines = second.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["message"] == "once ***"


def test_noisy_libraries_quiet_unless_debug(stream: io.StringIO) -> None:
    setup_logging("INFO", "text", stream=stream)
    assert all(logging.getLogger(n).level == logging.WARNING for n in NOISY_LOGGERS)
    logging.getLogger("discord.gateway").info("heartbeat ack")
    assert stream.getvalue() == ""
    setup_logging("DEBUG", "text", stream=stream)
    assert all(logging.getLogger(n).getEffectiveLevel() == logging.DEBUG for n in NOISY_LOGGERS)
    logging.getLogger("discord.gateway").debug("heartbeat ack")
    assert "discord.gateway: heartbeat ack" in stream.getvalue()


def test_bad_settings_are_named(stream: io.StringIO) -> None:
    with pytest.raises(ValueError, match="LOG_LEVEL"):
        setup_logging("LOUD", "text", stream=stream)
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        setup_logging("INFO", "xml", stream=stream)  # type: ignore[arg-type]


def test_unformattable_record_is_kept_not_dropped(stream: io.StringIO) -> None:
    setup_logging("INFO", "text", [TOKEN], stream=stream)
    # Handed to our handler directly: pytest's own capture handler would raise on it first.
    (ours,) = [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is stream]
    record = logging.LogRecord(
        "bot.x", logging.INFO, __file__, 1, "count %d for " + TOKEN, ("not a number",), None
    )
    ours.handle(record)
    out = stream.getvalue()
    assert "unformattable" in out and "bot.x" in out
    assert TOKEN not in out


def test_filter_does_not_drop() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s", (TOKEN,), None)
    record.stack_info = (
        f'Stack (most recent call last):\n  File "x.py", line 1\n    login("{TOKEN}")'
    )
    assert RedactSecrets([TOKEN]).filter(record) is True
    assert record.getMessage() == "a ***"
    assert record.stack_info.endswith('login("***")')


def test_redact_rules() -> None:
    assert redact(f"x {TOKEN} y", [TOKEN]) == "x *** y"
    assert (
        redact("pass=abcde", ["abcde"]) == "pass=abcde"
    )  # under 6 characters: not a usable secret
    assert redact("nothing here", ["", "x"]) == "nothing here"
    assert redact("abcdef-and-more", ["abcdef", "abcdef-and-more"]) == "***"
    assert redact("id 1234567890.1234.example", []) == "id 1234567890.1234.example"
    assert redact("https://example.com/a.b.c", []) == "https://example.com/a.b.c"
    assert redact("the bearer of news", []) == "the bearer of news"
    assert redact("Bot ready as moderator#0001", []) == "Bot ready as moderator#0001"
    assert redact("Authorization: Bearer abc", []) == "Authorization: Bearer ***"
    assert redact('"authorization": "Bot xyz"', []) == '"authorization": "Bot ***"'
    assert redact(f"jwt {OTHER_TOKEN}.", []) == "jwt ***."


def test_redact_long_text_without_dots() -> None:
    # Linear: the token regex only starts at the beginning of a base64url run.
    text = "A" * 200_000
    assert redact(text, [TOKEN]) == text
    assert redact(text + " " + OTHER_TOKEN, []) == text + " ***"


secret_chars = st.characters(categories=["Lu", "Ll", "Nd"], max_codepoint=0x7F) | st.sampled_from(
    "-_."
)


@given(st.text(secret_chars, min_size=6, max_size=40), st.text(), st.text())
def test_secret_never_survives(secret: str, before: str, after: str) -> None:
    assert secret not in redact(before + secret + after, [secret])
