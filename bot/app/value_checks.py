"""The shapes a setting's text must have (DESIGN §8): URLs checked whole, host:port, SHARD.

Pure functions of the text, kept apart from the settings class so that each
rule is stated once and the class stays a list of fields. Every check raises
`ValueError` with a sentence that completes "VARIABLE: ..."; the settings add
the (shortened, never secret) value.
"""

from __future__ import annotations

import re
import shlex
from urllib.parse import SplitResult, urlsplit

from bot.core.shards import ShardError, parse_shard

#: Longest value any setting takes; a 10 MB value is a mistake, not a configuration.
MAX_VALUE_CHARS = 8192
#: Longest value shown back in an error: enough to recognise it, never a flood.
SHOWN_CHARS = 60
#: A spawn command's arguments together, before the prompt is substituted into them:
#: SPAWN_COMMAND and an agent's own `spawn_command` alike.
MAX_COMMAND_CHARS = 4096
MAX_COMMAND_ARGS = 100
HTTP = ("http", "https")
WEBSOCKET = ("ws", "wss")
POSTGRES = ("postgresql",)
CALDAV = ("caldav+http", "caldav+https")
_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$")


def has_blank(value: str) -> bool:
    """Whether `value` holds whitespace or a control character anywhere."""
    return any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value)


def shown(value: object) -> str:
    """`value` as it may appear in an error: quoted and cut short."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text)} chars)"


def check_url(value: str, schemes: tuple[str, ...]) -> SplitResult:
    """`value` split, once it is a whole URL: a known scheme, a host, a port 1..65535."""
    if has_blank(value):
        raise ValueError("must not contain spaces or control characters")
    try:
        parsed = urlsplit(value)
    except ValueError:  # "Invalid IPv6 URL": a [ without its ]
        raise ValueError("has a host that is not an address (a [ without its ])") from None
    if parsed.scheme.lower() not in schemes:
        raise ValueError(f"must be a {' or '.join(s + '://' for s in schemes)} URL")
    check_host(parsed.hostname or "")
    try:
        port = parsed.port
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    if port == 0 or (port is None and parsed.netloc.endswith(":")):
        raise ValueError("has a port that is not a number from 1 to 65535")
    return parsed


def check_host(host: str) -> str:
    """A host name, an IPv4 address or an IPv6 address (without brackets)."""
    if not host:
        raise ValueError("has no host")
    if ":" in host:
        if not _IPV6.match(host):
            raise ValueError(f"has a host that is not an address ({shown(host)})")
    elif not _HOSTNAME.match(host) or ".." in host:
        raise ValueError(f"has a host that is not a host name ({shown(host)})")
    return host


def parse_host_port(value: str) -> tuple[str, int]:
    """`host:port` (IPv6 in brackets) as a pair; port 1..65535."""
    example = "must be host:port with a port from 1 to 65535, e.g. 127.0.0.1:8080"
    host, sep, port = value.rpartition(":")
    if not sep or not host or has_blank(value):
        raise ValueError(example)
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536):
        raise ValueError(example)
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(example)
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{example} (an IPv6 address goes in brackets: [::1]:8080)")
    check_host(host)
    return host, int(port)


def check_shard(value: str) -> None:
    """`SHARD` as the moderator will read it ("i/n"), refused at start rather than later."""
    try:
        parse_shard(value)
    except ShardError as exc:
        # The variable is named by the error report already.
        raise ValueError(exc.detail) from None


def split_command(value: str) -> tuple[str, ...]:
    """A spawn command written as one line, split as the spawn waker runs it (shell words,
    no shell); ValueError as `check_command`, or when the quoting does not close."""
    try:
        argv = tuple(shlex.split(value))
    except ValueError as exc:
        raise ValueError(f"cannot be split into arguments ({exc})") from None
    return check_command(argv)


def check_command(argv: tuple[str, ...]) -> tuple[str, ...]:
    """`argv` if a program is left to run and it is within the bounds, else ValueError.

    A NUL byte is refused here: no program can be given one, so every wake would fail.
    """
    if not argv:
        raise ValueError("is empty")
    if any("\x00" in arg for arg in argv):
        raise ValueError("holds a NUL byte, which no program can be given as an argument")
    if len(argv) > MAX_COMMAND_ARGS or sum(map(len, argv)) > MAX_COMMAND_CHARS:
        raise ValueError(
            f"is too long (at most {MAX_COMMAND_ARGS} arguments and {MAX_COMMAND_CHARS} "
            "characters; the prompt is substituted when it runs)"
        )
    return argv
