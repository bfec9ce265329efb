"""What the moderator remembers of each agent's collection across restarts (DESIGN §10).

`first_seen` is when the moderator first listed the collection: events due
before it are history, never woken, however often it restarts; the sync token
lets a restart ask only for what changed. Saved whole, atomically (a temporary
file, then `os.replace`), so a crash leaves the old ledger or the new one.
A ledger that cannot be read is set aside with a warning and started afresh:
the copy of the calendar is then rebuilt by a full listing, nothing is lost.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class CollectionMark:
    href: str
    first_seen: str
    token: str | None = None

    @property
    def first_seen_at(self) -> datetime:
        return datetime.fromisoformat(self.first_seen)


class Ledger:
    """Agent id -> its collection's mark, in a JSON file (or only in memory when `path` is None)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self.marks: dict[str, CollectionMark] = {}
        if path is not None and path.exists():
            self.marks = _read(path)

    def save(self) -> None:
        if self._path is None:
            return
        data = {agent: asdict(mark) for agent, mark in sorted(self.marks.items())}
        temporary = self._path.with_name(self._path.name + ".tmp")
        temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(temporary, self._path)


def _read(path: Path) -> dict[str, CollectionMark]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        marks = {str(agent): CollectionMark(**fields) for agent, fields in data.items()}
        for mark in marks.values():
            if not isinstance(mark.href, str) or mark.first_seen_at.tzinfo is None:
                raise ValueError("a mark without an href or an aware first_seen")
            if mark.token is not None and not isinstance(mark.token, str):
                raise ValueError("a sync token that is not text")
        return marks
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("CalDAV ledger %s unreadable (%s): starting a new one", path, exc)
        return {}
