"""Reading an ICS file in bounded memory: lines unfolded, VEVENTs split out, each one capped.

A file may be anything a person hands over: not iCalendar at all, cut off,
50 MB, 100,000 events, one 10 MB DESCRIPTION. Nothing here reads a file
whole. The file is checked first (its size, then one cheap pass over its
lines: it must begin with BEGIN:VCALENDAR and hold at most `MAX_EVENTS`
events), so a file that is refused as a whole is refused before any event is
parsed. Then each VEVENT's lines are collected (RFC 5545 unfolding, physical
lines read at most `CHUNK` bytes at a time) up to `MAX_EVENT_BYTES`; a larger
event is still read to its end, but its lines are dropped and it comes out
marked `oversized`, to be refused by name. A structure error (an END that
closes nothing, a file that ends inside a component) refuses the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

#: A file larger than this is refused whole.
MAX_FILE_BYTES = 32 * 1024 * 1024
#: A file with more VEVENTs than this is refused whole (one import is one transaction).
MAX_EVENTS = 20_000
#: One VEVENT (its unfolded lines together) larger than this is refused by name.
MAX_EVENT_BYTES = 256 * 1024
#: How much of a physical line is read at once.
CHUNK = 64 * 1024
_BEGIN_EVENT = b"BEGIN:VEVENT"


class IcsFileError(ValueError):
    """The file as a whole cannot be imported; nothing of it is."""


@dataclass
class RawEvent:
    """One VEVENT's unfolded content lines (BEGIN/END included), or only its name if oversized."""

    line: int
    lines: list[str] = field(default_factory=list)
    size: int = 0
    uid: str | None = None
    oversized: bool = False

    @property
    def name(self) -> str:
        """How a message names the event: its UID, or where it starts."""
        return f"UID {self.uid!r}" if self.uid else f"the event at line {self.line}"

    def text(self) -> str:
        return "\r\n".join(self.lines) + "\r\n"


def check_file(path: Path) -> None:
    """Refuse a file that is too large, not iCalendar, or holds too many events.

    Reads the file once, a bounded chunk at a time, without parsing anything.
    """
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise IcsFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise IcsFileError(
            f"{path} is {size / 1024 / 1024:.1f} MiB; an import takes at most "
            f"{MAX_FILE_BYTES // 1024 // 1024} MiB (split the file)"
        )
    events = 0
    first: bytes | None = None
    with _open(path) as stream:
        for chunk in iter(lambda: stream.readline(CHUNK), b""):
            if first is None:
                if not chunk.strip():
                    continue
                first = chunk
                if chunk.lstrip(b"\xef\xbb\xbf").rstrip(b"\r\n").upper() != b"BEGIN:VCALENDAR":
                    raise IcsFileError(
                        f"{path} is not an iCalendar file: it does not begin with BEGIN:VCALENDAR"
                    )
            elif chunk[:12].upper() == _BEGIN_EVENT:
                events += 1
                if events > MAX_EVENTS:
                    raise IcsFileError(
                        f"{path} holds more than {MAX_EVENTS:,} events; "
                        "an import takes at most that many (split the file)"
                    )
    if first is None:
        raise IcsFileError(f"{path} is empty: not an iCalendar file")


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise IcsFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def logical_lines(stream: BinaryIO) -> Iterator[tuple[int, str | None]]:
    """(line number, unfolded content line) pairs; None for a line over `MAX_EVENT_BYTES`.

    Folded lines (a line break followed by a space or tab) are joined; a physical
    line longer than `CHUNK` arrives in pieces and is joined too, up to the cap.
    """
    parts: list[bytes] = []
    size = 0
    number = 0
    start = 0
    at_line_start = True
    for chunk in iter(lambda: stream.readline(CHUNK), b""):
        ended = chunk.endswith(b"\n")
        body = chunk.rstrip(b"\r\n") if ended else chunk
        if at_line_start:
            number += 1
            if body[:1] in (b" ", b"\t") and number > 1:
                body = body[1:]
            else:
                if number > 1:
                    yield start, _decoded(parts, size, start)
                parts, size, start = [], 0, number
        size += len(body)
        if size <= MAX_EVENT_BYTES:
            parts.append(body)
        at_line_start = ended
    if number:
        yield start, _decoded(parts, size, start)


def _decoded(parts: list[bytes], size: int, number: int) -> str | None:
    if size > MAX_EVENT_BYTES:
        return None
    try:
        return b"".join(parts).decode("utf-8")
    except UnicodeDecodeError:
        raise IcsFileError(f"line {number} is not UTF-8 text: not an iCalendar file") from None


def raw_events(path: Path) -> Iterator[RawEvent]:
    """The file's VEVENTs in order (`check_file` it first); raises `IcsFileError` when malformed."""
    stack: list[str] = []
    event: RawEvent | None = None
    with _open(path) as stream:
        for number, line in logical_lines(stream):
            if line is None:
                if event is None:
                    raise IcsFileError(f"line {number} is over {MAX_EVENT_BYTES // 1024} KiB")
                event.oversized = True
                continue
            if not line.strip() and not stack:
                continue
            name, _, value = line.partition(":")
            keyword = name.upper()
            if keyword in ("BEGIN", "END"):
                value = value.strip().upper()
                if keyword == "BEGIN":
                    if not stack and value != "VCALENDAR":
                        raise IcsFileError(f"line {number}: BEGIN:{value} outside a VCALENDAR")
                    stack.append(value)
                    if value == "VEVENT" and len(stack) == 2:
                        event = RawEvent(line=number)
                elif not stack or stack[-1] != value:
                    opened = f"BEGIN:{stack[-1]}" if stack else "nothing"
                    raise IcsFileError(f"line {number}: END:{value} closes {opened}")
                else:
                    stack.pop()
            elif not stack:
                raise IcsFileError(f"line {number} is outside BEGIN:VCALENDAR … END:VCALENDAR")
            if event is not None:
                _collect(event, line, keyword, value, len(stack))
                if keyword == "END" and value == "VEVENT" and len(stack) == 1:
                    yield event
                    event = None
    if stack:
        where = f" ({event.name})" if event is not None else ""
        raise IcsFileError(f"the file ends inside BEGIN:{stack[-1]}{where}: it is cut off")


def _collect(event: RawEvent, line: str, keyword: str, value: str, depth: int) -> None:
    if keyword.split(";")[0] == "UID" and depth == 2 and event.uid is None:
        event.uid = value.strip()[:200]
    if event.oversized:
        return
    event.size += len(line) + 2
    if event.size > MAX_EVENT_BYTES:
        event.oversized = True
        event.lines.clear()
        return
    event.lines.append(line)
