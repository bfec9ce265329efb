"""One agent's schedule held locally: the seed's `ScheduleCache`, in Python.

The calendar is the truth, but asking it on every 30 s tick for every agent does
not scale and cannot be precise. The cache holds the agent's slots for the
current `TIMEZONE` day plus the slots carried over from earlier days (the
current one and unfinished ones), and answers the scheduler's questions
without I/O:

* `get_due_slots(now)` and `next_due_at()` read a time-ordered index of the
  pending (NOT_STARTED/DEFERRED) slots, so a tick costs a bisect, not a scan;
* `merge(day)` folds a calendar answer in as a diff and never lets an older
  `version` overwrite a newer local one (a sync that started before our own
  claim must not undo it);
* `put(slot)` folds in one slot learnt elsewhere (a transition's answer).

Every change comes back as `SlotChange(before, after)` so the scheduler can act
on what moved (a slot ended, a new slot appeared, the agent became busy).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.core import packed
from bot.core.calendar import Calendar
from bot.core.models import DaySchedule, Slot, SlotStatus
from bot.core.packed import Packed, pack, unpack


def selection_key(slot: Slot) -> tuple[int, datetime, str]:
    """DESIGN §4 selection: priority desc, then scheduled_at asc, then id asc."""
    return (-slot.priority, slot.scheduled_at, slot.id)


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


@dataclass(frozen=True, slots=True)
class SlotChange:
    """One slot's move: `before` None = new to the cache, `after` None = gone from it."""

    before: Slot | None
    after: Slot | None

    @property
    def slot(self) -> Slot:
        found = self.after or self.before
        assert found is not None
        return found

    @property
    def ended(self) -> bool:
        """It reached FINISHED/ABORTED in this change (was not final before)."""
        return (
            self.after is not None
            and self.after.status.is_final
            and (self.before is None or not self.before.status.is_final)
        )


@dataclass(frozen=True, slots=True)
class SyncDiff:
    created: tuple[Slot, ...] = ()
    updated: tuple[SlotChange, ...] = ()
    deleted: tuple[Slot, ...] = ()
    #: The calendar answered 304 (the ETag still matched): nothing was merged.
    not_modified: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def changes(self) -> list[SlotChange]:
        out = [SlotChange(None, s) for s in self.created]
        out.extend(self.updated)
        out.extend(SlotChange(s, None) for s in self.deleted)
        return out


class ScheduleCache:
    """The local copy of one agent's days; not thread-safe, owned by one scheduler."""

    def __init__(self, agent_id: str, timezone: ZoneInfo, day: date | None = None) -> None:
        self.agent_id = agent_id
        self.timezone = timezone
        #: The `TIMEZONE` day the cache is on; slots of earlier days are carried.
        self.day = day
        #: When the calendar last answered a day query for this cache (even 304).
        self.last_sync_at: datetime | None = None
        #: The ETag of the current day's last answer; a new day starts without one.
        self.etag: str | None = None
        #: Held packed (`bot.core.packed`): a whole moderator's days must fit in memory.
        self._slots: dict[str, Packed] = {}
        # pending index: sorted (timestamp, id) of NOT_STARTED/DEFERRED slots
        self._pending: list[tuple[float, str]] = []
        self._pending_key: dict[str, tuple[float, str]] = {}
        self._active: set[str] = set()

    # ---- reading -------------------------------------------------------

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, slot_id: object) -> bool:
        return slot_id in self._slots

    def get(self, slot_id: str) -> Slot | None:
        held = self._slots.get(slot_id)
        return None if held is None else unpack(held)

    def get_all(self) -> list[Slot]:
        """Every slot held, in time order."""
        return self._in_order(lambda held: True)

    def today_slots(self) -> list[Slot]:
        """The cached schedule of the cache's day, with the slots carried from earlier days."""
        day = self.day
        if day is None:
            return []
        return self._in_order(lambda held: self._day_held(held) <= day)

    def day_of(self, slot: Slot) -> date:
        return local_day(slot.scheduled_at, self.timezone)

    def carried(self) -> list[Slot]:
        """Slots held from before the current day (unfinished or current)."""
        day = self.day
        if day is None:
            return []
        return self._in_order(lambda held: self._day_held(held) < day)

    def get_due_slots(self, now: datetime) -> list[Slot]:
        """Pending slots with `scheduled_at <= now`, oldest first (no full scan)."""
        end = bisect_right(self._pending, (now.timestamp(), "\U0010ffff"))
        return [unpack(self._slots[sid]) for _, sid in self._pending[:end]]

    def has_due(self, now: datetime) -> bool:
        return bool(self._pending) and self._pending[0][0] <= now.timestamp()

    def next_due_at(self, after: datetime | None = None) -> datetime | None:
        """The earliest pending `scheduled_at` (strictly after `after`, when given)."""
        if not self._pending:
            return None
        if after is None:
            idx = 0
        else:
            idx = bisect_right(self._pending, (after.timestamp(), "\U0010ffff"))
            if idx >= len(self._pending):
                return None
        return packed.scheduled_at(self._slots[self._pending[idx][1]])

    def active_slot(self) -> Slot | None:
        """The ONGOING/PAUSED slot (the agent is busy), if the cache knows one."""
        if not self._active:
            return None
        if len(self._active) == 1:
            return unpack(self._slots[next(iter(self._active))])
        # More than one can only be a transient the calendar forbids; prefer ONGOING.
        slots = [unpack(self._slots[sid]) for sid in self._active]
        return min(slots, key=lambda s: (s.status is not SlotStatus.ONGOING, s.scheduled_at))

    @property
    def busy(self) -> bool:
        """Whether `active_slot()` would answer a slot (without building it)."""
        return bool(self._active)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def count(self, status: SlotStatus) -> int:
        return sum(1 for held in self._slots.values() if packed.status(held) is status)

    # ---- writing -------------------------------------------------------

    def put(self, slot: Slot) -> SlotChange | None:
        """Fold in one slot; None when the cache already had this version or a newer one."""
        if slot.agent_id != self.agent_id:
            raise ValueError(f"slot {slot.id} belongs to {slot.agent_id}, not {self.agent_id}")
        before = self._slots.get(slot.id)
        if before is not None and packed.version(before) >= slot.version:
            return None
        self._store(slot)
        return SlotChange(None if before is None else unpack(before), slot)

    def put_many(self, slots: Iterable[Slot]) -> list[SlotChange]:
        return [c for c in (self.put(s) for s in slots) if c is not None]

    def update_slot(self, slot_id: str, changes: Mapping[str, Any]) -> Slot:
        """A local edit (no version check); raises KeyError for an unknown slot."""
        before = unpack(self._slots[slot_id])
        after = before.model_copy(update=dict(changes))
        self._store(after)
        return after

    def remove(self, slot_id: str) -> Slot | None:
        held = self._discard(slot_id)
        return None if held is None else unpack(held)

    def merge(self, schedule: DaySchedule, synced_at: datetime | None = None) -> SyncDiff:
        """Fold in the calendar's answer for one day.

        Slots of that day the calendar no longer lists are deleted (rescheduled
        away, or gone); slots of other days are untouched. A listed slot whose
        version is not newer than ours is kept as we have it.
        """
        if synced_at is not None:
            self.last_sync_at = synced_at
        created: list[Slot] = []
        updated: list[SlotChange] = []
        listed: set[str] = set()
        for slot in schedule.slots:
            if slot.agent_id != self.agent_id:
                continue
            listed.add(slot.id)
            change = self.put(slot)
            if change is None:
                continue
            if change.before is None:
                created.append(slot)
            else:
                updated.append(change)
        deleted: list[Slot] = []
        for slot_id, held in list(self._slots.items()):
            if slot_id not in listed and self._day_held(held) == schedule.date:
                if packed.status(held).is_active:
                    # The agent is working on it; a day listing cannot take it away.
                    continue
                self._discard(slot_id)
                deleted.append(unpack(held))
        return SyncDiff(tuple(created), tuple(updated), tuple(deleted))

    async def sync(
        self, calendar: Calendar, day: date, *, at: datetime | None = None, use_etag: bool = True
    ) -> SyncDiff:
        """Fetch `day` from the calendar and merge it (the seed's `sync`).

        With `use_etag` the last ETag is sent, and a 304 merges nothing. Raises
        the calendar's errors; the cache is left as it was then.
        """
        if self.day is None:
            self.day = day
        result = await calendar.get_day(self.agent_id, day, self.etag if use_etag else None)
        if result.schedule is None:
            if at is not None:
                self.mark_synced(at)
            return SyncDiff(not_modified=True)
        diff = self.merge(result.schedule, synced_at=at)
        if day == self.day:
            self.etag = result.etag
        return diff

    def mark_synced(self, at: datetime) -> None:
        """A 304: nothing to merge, but the cache is known fresh as of `at`."""
        self.last_sync_at = at

    def roll_to(self, day: date) -> list[Slot]:
        """Move to a new day: keep active and unfinished earlier slots, drop ended ones.

        Answers the slots carried over.
        """
        if day != self.day:
            self.etag = None
        self.day = day
        for slot_id, held in list(self._slots.items()):
            if self._day_held(held) < day and packed.status(held).is_final:
                self._discard(slot_id)
        return self.carried()

    # ---- index ---------------------------------------------------------

    def _day_held(self, held: Packed) -> date:
        return local_day(packed.scheduled_at(held), self.timezone)

    def _in_order(self, keep: Callable[[Packed], bool]) -> list[Slot]:
        """The held slots that `keep` accepts, in time order (then by id)."""
        chosen = [held for held in self._slots.values() if keep(held)]
        chosen.sort(key=lambda held: (packed.scheduled_at(held), packed.slot_id(held)))
        return [unpack(held) for held in chosen]

    def _discard(self, slot_id: str) -> Packed | None:
        """Drop the slot and its index entries; the caller builds a `Slot` only if it needs one."""
        held = self._slots.pop(slot_id, None)
        if held is not None:
            self._unindex(slot_id)
        return held

    def _store(self, slot: Slot) -> None:
        self._unindex(slot.id)
        self._slots[slot.id] = pack(slot)
        if slot.status.is_pending:
            key = (slot.scheduled_at.timestamp(), slot.id)
            insort(self._pending, key)
            self._pending_key[slot.id] = key
        elif slot.status.is_active:
            self._active.add(slot.id)

    def _unindex(self, slot_id: str) -> None:
        key = self._pending_key.pop(slot_id, None)
        if key is not None:
            idx = bisect_left(self._pending, key)
            if idx < len(self._pending) and self._pending[idx] == key:
                del self._pending[idx]
        self._active.discard(slot_id)
