"""ICS text for the import tests, written on the fly (nothing large is kept in the repo)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def vevent(uid: str | None, *lines: str) -> str:
    head = [f"UID:{uid}"] if uid is not None else []
    return "\r\n".join(["BEGIN:VEVENT", *head, "DTSTAMP:20260101T000000Z", *lines, "END:VEVENT"])


def vcalendar(events: Iterable[str]) -> str:
    body = "\r\n".join(events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}\r\nEND:VCALENDAR\r\n"


def write(path: Path, *events: str) -> Path:
    path.write_text(vcalendar(events), encoding="utf-8", newline="")
    return path
