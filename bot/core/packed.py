"""A slot as the cache holds it: its field values in one tuple, not a pydantic model.

A moderator holds every agent's day: 10,000 agents x 20 slots are 200,000 slots
(issue 15 budgets 300 MB for the whole process). A `Slot` model costs about
1.5 KB there: its instance dict and its own set of field names come to 1.2 KB
before any value. Packed, a slot is one tuple (200 bytes) and its values, and
the values many slots share (agent id, type, title, prompt of a series'
occurrences) are interned once. The cache answers its own questions (due,
status, version) from the tuple and builds a `Slot` only for what it hands out.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from operator import itemgetter
from typing import Any

from bot.core.models import Slot, SlotStatus

#: The field names in the order of a packed tuple (the model's order).
NAMES: tuple[str, ...] = tuple(Slot.model_fields)
_EVENT_DATA = NAMES.index("event_data")
#: Text that slots repeat (interned: one copy for all of them); ids and notes are their own.
_SHARED_TEXT = frozenset(
    NAMES.index(name) for name in ("agent_id", "slot_type", "title", "prompt", "series_id")
)

#: One frozen copy of each distinct set of given field names (nearly always one: all of them).
_FIELD_SETS: dict[frozenset[str], frozenset[str]] = {}

Packed = tuple[Any, ...]


def pack(slot: Slot) -> Packed:
    """`slot` as a tuple that `unpack` turns back into an equal `Slot`."""
    values = slot.__dict__
    out = [values[name] for name in NAMES]
    for index in _SHARED_TEXT:
        text = out[index]
        if type(text) is str:  # intern takes no subclass
            out[index] = sys.intern(text)
    if not out[_EVENT_DATA]:
        out[_EVENT_DATA] = None  # the common empty mapping costs nothing held; unpack makes one
    given = frozenset(slot.model_fields_set)
    out.append(_FIELD_SETS.setdefault(given, given))
    return tuple(out)


def unpack(packed: Packed) -> Slot:
    """A new `Slot` with the packed values (not validated again: they were when packed) and an
    `event_data` of its own, so a reader that changes it never changes the cache."""
    values = dict(zip(NAMES, packed, strict=False))
    held = values["event_data"]
    values["event_data"] = {} if held is None else dict(held)
    return Slot.model_construct(_fields_set=set(packed[-1]), **values)


# What the cache asks of a held slot without unpacking it.
slot_id: Callable[[Packed], str] = itemgetter(NAMES.index("id"))
scheduled_at: Callable[[Packed], datetime] = itemgetter(NAMES.index("scheduled_at"))
status: Callable[[Packed], SlotStatus] = itemgetter(NAMES.index("status"))
version: Callable[[Packed], int] = itemgetter(NAMES.index("version"))
