"""Logging set-up for the moderator: text or JSON lines on stderr, with secrets redacted.

Redaction is a filter on *our handler*, not on our loggers: a logger's filters do
not see records that propagate from other loggers, and the records most likely
to carry a token come from discord.py and aiohttp (a request dump, an exception
whose text quotes a header). The filter rewrites the record itself (message,
exception and stack text, extra fields), so every formatter after it is safe.

Besides the configured secrets it redacts what looks like a credential whatever
its origin: Discord bot tokens (three base64url parts joined by dots; JWTs have
the same shape), agents' derived calendar tokens (`agt.<agent>.<gen>.…`, also
of agents the configuration does not list) and the values of `Bearer …` and
`Authorization: …` headers. An operator grepping logs loses a little; a token
in a log file is a leaked token.

discord.py's `Client.run` installs its own root handler unless given
`log_handler=None`; the runner must pass that (or use `Client.start`), or that
handler would bypass the redaction.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, Literal, TextIO

from pythonjsonlogger import json as jsonlogger

from bot.core.tokens import DERIVED_TOKEN_TEXT

REDACTED: Final = "***"
MIN_SECRET_LENGTH: Final = 6
"""Shorter configured values are not redacted: replacing every "abc" would garble logs."""

TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

NOISY_LOGGERS: Final = ("discord.gateway", "aiohttp.access")
"""Chatty at INFO (gateway resumes, one line per HTTP request): WARNING unless DEBUG."""

_B64 = "A-Za-z0-9_-"
# Anchored at the start of a base64url run and possessive, so a long run without
# dots is scanned once rather than once per starting position.
_TOKEN_SHAPE = re.compile(rf"(?<![{_B64}])[{_B64}]{{20,}}+\.[{_B64}]{{3,}}+\.[{_B64}]{{10,}}+")
_HEADER_VALUE = re.compile(
    r"""(?ix)
    (?P<head>
        \bauthorization['"]?\s*[:=]\s*['"]?(?:(?:bot|bearer|basic|token)\s+)?
      | \b(?-i:Bearer)\s+
    )
    (?P<value>[^\s'",;}\])]++)
    """
)

_STANDARD_ATTRS: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


def _usable_secrets(secrets: Iterable[str]) -> tuple[str, ...]:
    unique = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}
    # Longest first, so a secret that contains another is replaced whole.
    return tuple(sorted(unique, key=len, reverse=True))


def _secrets_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    if not secrets:
        return None
    return re.compile("|".join(re.escape(s) for s in secrets))


def _redact_with(text: str, pattern: re.Pattern[str] | None) -> str:
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _TOKEN_SHAPE.sub(REDACTED, text)
    text = DERIVED_TOKEN_TEXT.sub(REDACTED, text)
    return _HEADER_VALUE.sub(lambda m: m.group("head") + REDACTED, text)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (of 6+ characters) and every token-like value replaced by ***."""
    return _redact_with(text, _secrets_pattern(_usable_secrets(secrets)))


class RedactSecrets(logging.Filter):
    """Rewrites a record so that no secret reaches any formatter; never drops a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._pattern = _secrets_pattern(_usable_secrets(secrets))

    def redact(self, text: str) -> str:
        return _redact_with(text, self._pattern)

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self._redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact_value(v) for v in value]
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception as exc:  # a bad format string must not lose the record
            message = f"{record.msg!r} (unformattable with args: {type(exc).__name__})"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = self._redact_value(value)
        return True


def _rfc3339(created: float) -> str:
    stamp = datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.removesuffix("+00:00") + "Z"


def _serialisable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


class JsonFormatter(jsonlogger.JsonFormatter):
    """One JSON object per line: ts, level, logger, message, exc_info, and serialisable extras.

    python-json-logger does the record-to-object work; what is ours is the field
    names operators' queries already use (`ts`, `level`, `logger`), an RFC 3339
    UTC timestamp, and leaving out an extra that does not serialise instead of
    writing its repr (a repr may hold a secret the redaction cannot recognise).
    """

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def format(self, record: logging.LogRecord) -> str:
        # The library would format `exc_info` afresh, past the redaction filter's
        # `exc_text`: hand it the (redacted) text only.
        exc_info = record.exc_info
        if exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(exc_info)
        record.exc_info = None
        try:
            return super().format(record)
        finally:
            record.exc_info = exc_info

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["ts"] = _rfc3339(record.created)
        super().add_fields(log_data, record, message_dict)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in log_data.items() if _serialisable(value)}


class _ModeratorHandler(logging.StreamHandler[TextIO]):
    """Our root handler, marked by its class so a second set-up replaces it instead of adding."""


def parse_level(level: str) -> int:
    """LOG_LEVEL as a number; the moderator and the demo refuse the same names in the same words."""
    name = level.strip().upper() if isinstance(level, str) else ""
    if name not in LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LEVELS)}; got {level!r}")
    return int(logging.getLevelName(name))


def formatter_for(fmt: str) -> logging.Formatter:
    """LOG_FORMAT's formatter; shared with the demo, like `parse_level`."""
    if fmt not in ("text", "json"):
        raise ValueError(f"LOG_FORMAT must be 'text' or 'json'; got {fmt!r}")
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def setup_logging(
    level: str,
    fmt: Literal["text", "json"],
    secrets: Iterable[str] = (),
    *,
    stream: TextIO | None = None,
) -> None:
    """Configure the root logger; safe to call again (the old handler is replaced, not doubled).

    `stream` defaults to stderr at call time; tests pass their own.
    """
    numeric = parse_level(level)
    formatter = formatter_for(fmt)
    handler = _ModeratorHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets(secrets))

    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _ModeratorHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)

    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(
            logging.NOTSET if numeric <= logging.DEBUG else logging.WARNING
        )
