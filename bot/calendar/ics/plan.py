"""One ICS file as an import plan: what to write, and each event refused with its reason.

The file is checked whole first (`read.check_file`), then read one event at
a time; the plan keeps only what will be written (bounded by
`read.MAX_EVENTS`), so the writing is one transaction over the whole file.
Two events with the same UID (and RECURRENCE-ID) are one event given twice:
the first is kept, the others refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.calendar.ics.convert import Refusal, convert
from bot.calendar.ics.read import check_file, raw_events
from bot.calendar.store.imports import ImportedSeries, ImportedSlot


@dataclass
class ImportPlan:
    series: list[ImportedSeries] = field(default_factory=list)
    slots: list[ImportedSlot] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def events(self) -> int:
        return len(self.series) + len(self.slots) + len(self.refused)


def plan_import(path: Path, agent_id: str, zone: ZoneInfo) -> ImportPlan:
    """The plan for `path`; raises `read.IcsFileError` when the file is refused whole."""
    check_file(path)
    plan = ImportPlan()
    first_seen: dict[tuple[str, str | None], str] = {}
    for raw in raw_events(path):
        item = convert(raw, agent_id, zone)
        if isinstance(item, Refusal):
            plan.refused.append(item)
            continue
        recurrence = getattr(item, "recurrence", None)
        key = (item.id, None if recurrence is None else recurrence.isoformat())
        if key in first_seen:
            reason = f"duplicate: the same UID{' and RECURRENCE-ID' if recurrence else ''} as "
            plan.refused.append(Refusal(item.name, reason + first_seen[key]))
            continue
        first_seen[key] = f"the event at line {raw.line}"
        if isinstance(item, ImportedSeries):
            plan.series.append(item)
        else:
            plan.slots.append(item)
    return plan
