"""The moderator's own memory, kept in SQLite at `STATE_PATH` (DESIGN §4).

The calendar owns the slots; this file holds what only the moderator knows and
must not forget across a restart:

* the **wake ledger**: per slot, the intent to wake (written *before* any side
  effect, with the claim's `expected_version` and its *claim key*), the claim,
  and the result. The claim key goes to the calendar with the `start`, which
  keeps it with the slot while it is held; so a restart (or a retry after a
  lost answer) re-sends that same `start` and the calendar's 200 or 409 says
  whose the slot is. A restart reads the entries that have an intent but no
  result and finishes them without waking anything twice;
* the **channel links** (slot -> private channel), implementing
  `bot.core.waker.ChannelLedger` for the Discord waker and the reply listener;
* **session deferrals** (agent -> slot ids deferred while it stayed busy), so a
  restart does not defer the same slot again;
* the **last sync** per agent (time, ok/error, consecutive failures) for status.

Each part lives in its own module: `database` (the file, its schema, the
write path, setting a corrupt file aside), `wakes`, `links` and `sessions`.
`StateStore` is all of them over one connection.

Usage::

    state = await StateStore.open(settings.state_path, clock=clock)
    ...
    await state.close()
"""

from bot.core.state.database import MEMORY, SCHEMA_VERSION, StateError
from bot.core.state.links import ChannelLinks
from bot.core.state.sessions import AgentSessions, SyncRecord
from bot.core.state.wakes import WakeEntry, WakeLedger

__all__ = ["MEMORY", "SCHEMA_VERSION", "StateError", "StateStore", "SyncRecord", "WakeEntry"]


class StateStore(WakeLedger, ChannelLinks, AgentSessions):
    """The persisted state; open with `await StateStore.open(path, clock=...)`."""
