"""What the moderator remembers of each agent's collection across restarts (DESIGN §10).

Per agent, the collection's href and `first_seen`: when the moderator first listed
the collection. Events due before it are history, never woken, however often it
restarts. Saved whole, atomically (a temporary file synced to disk, then
`os.replace`), so a crash or a power loss leaves the old ledger or the new one.

The sync tokens are not kept here: each process lists every collection whole
once (its index of which event is in which resource lives in memory), and only
then asks for changes (`CalendarCopy`). A token of an earlier process would name
only what changed since, leaving the events unchanged since unknown to it.
(Files of earlier versions hold a `token` per agent; it is read and dropped.)

A file that cannot be read is set aside (renamed `.corrupt-<time>`, for the user
to look at) with a warning and a new one is started: the collections are found
again and `first_seen` starts anew. A save that fails (disk full, a directory in
the way) is logged and tried again at the next change; the moderator goes on.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from bot.core.sqlite_path import set_aside

log = logging.getLogger(__name__)

#: A ledger is ~200 bytes an agent; a file past this is not one of ours.
MAX_LEDGER_BYTES = 64 << 20


@dataclass
class CollectionMark:
    href: str
    first_seen: str

    @property
    def first_seen_at(self) -> datetime:
        return datetime.fromisoformat(self.first_seen)


class Ledger:
    """Agent id -> its collection's mark, in a JSON file (or only in memory when `path` is None).

    `now` names a file set aside when the one at `path` cannot be read."""

    def __init__(self, path: Path | None, now: datetime) -> None:
        self._path = path
        self._save_failing = False
        self.marks: dict[str, CollectionMark] = {}
        if path is not None and (path.exists() or path.is_symlink()):
            self.marks = _read_or_set_aside(path, now)

    def save(self) -> None:
        if self._path is None:
            return
        data = {agent: asdict(mark) for agent, mark in sorted(self.marks.items())}
        temporary = self._path.with_name(self._path.name + ".tmp")
        try:
            with temporary.open("w", encoding="utf-8") as file:
                file.write(json.dumps(data, indent=1))
                file.flush()
                # On disk before the rename: after a power loss the name holds the old
                # ledger or the whole new one, never a renamed empty file.
                os.fsync(file.fileno())
            os.replace(temporary, self._path)
        except OSError as exc:
            if not self._save_failing:
                log.warning(
                    "CalDAV ledger %s could not be saved (%s): kept in memory, saved at the "
                    "next change; a restart meanwhile lists the calendars afresh",
                    self._path,
                    exc.strerror or exc,
                )
            self._save_failing = True
            return
        if self._save_failing:
            log.info("CalDAV ledger %s saved again", self._path)
        self._save_failing = False


def _read_or_set_aside(path: Path, now: datetime) -> dict[str, CollectionMark]:
    try:
        return _read(path)
    except (OSError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        try:
            aside = set_aside(path, now)
        except OSError:
            log.warning("CalDAV ledger %s unreadable (%s): starting a new one", path, why)
        else:
            log.warning(
                "CalDAV ledger %s unreadable (%s): set aside as %s, starting a new one",
                path,
                why,
                aside.name,
            )
        return {}


def _read(path: Path) -> dict[str, CollectionMark]:
    """The marks in the file; ValueError / TypeError / OSError for anything not a ledger."""
    with path.open("rb") as file:
        raw = file.read(MAX_LEDGER_BYTES + 1)
    if len(raw) > MAX_LEDGER_BYTES:
        raise ValueError(f"larger than {MAX_LEDGER_BYTES >> 20} MiB")
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object of agents")
    marks: dict[str, CollectionMark] = {}
    for agent, fields in data.items():
        if not isinstance(fields, dict):
            raise ValueError(f"the mark of {agent!r} is not an object")
        fields.pop("token", None)  # an earlier version's; never sent again (see above)
        mark = CollectionMark(**fields)
        if not isinstance(mark.href, str) or mark.first_seen_at.tzinfo is None:
            raise ValueError("a mark without an href or an aware first_seen")
        marks[str(agent)] = mark
    return marks
