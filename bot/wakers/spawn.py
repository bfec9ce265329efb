"""The spawn fallback (DESIGN §5): what its two wakers share.

`spawn_url` POSTs the wake to a webhook, `spawn_command` runs a local program,
`spawn_env` decides what either hands the agent. Kept here: the wake id, which
both send and which receivers store, so it must never change.
"""

from __future__ import annotations

import uuid

# Fixed forever: receivers store wake ids, so changing this would make repeats look new.
_WAKE_ID_NAMESPACE = uuid.UUID("5b0f3c7e-8d1a-4c55-9a57-2f6b8f3e9c41")


def wake_id_for(slot_id: str) -> str:
    """The wake id of a slot: the same on every attempt and after a restart.

    A spawn wake is at-least-once across a crash (the request may have landed
    before the process died), so the receiver needs a stable key to drop repeats.
    """
    return str(uuid.uuid5(_WAKE_ID_NAMESPACE, slot_id))
