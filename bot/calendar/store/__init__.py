"""The embedded calendar: DESIGN §3 kept in SQLite, the default backend and the server's state.

`embedded` holds `EmbeddedCalendar` (the connection, its lock and the protocol
calls); `schema` the file and its upgrades; `rows` the row <-> `Slot` mapping;
`days` a day's range and ETag; `transitions` the claims; `agents` heartbeats
and agent status.
"""

from bot.calendar.store.agents import HEARTBEAT_FRESH
from bot.calendar.store.days import day_bounds, day_etag, etag_matches
from bot.calendar.store.embedded import EmbeddedCalendar
from bot.calendar.store.rows import SlotEvent, from_us, to_us
from bot.calendar.store.schema import SCHEMA_VERSION
from bot.calendar.store.transitions import MAX_CLAIM_KEY, TransitionCall, TransitionOutcome

__all__ = [
    "HEARTBEAT_FRESH",
    "MAX_CLAIM_KEY",
    "SCHEMA_VERSION",
    "EmbeddedCalendar",
    "SlotEvent",
    "TransitionCall",
    "TransitionOutcome",
    "day_bounds",
    "day_etag",
    "etag_matches",
    "from_us",
    "to_us",
]
