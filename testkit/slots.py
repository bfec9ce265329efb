"""Slots built in memory for the pure parts (rules, presenters): only what a test cares
about is named at the call, every other field is the wire model's default."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.models import Slot


def slot_at(at: datetime, slot_id: str = "slot-0001", **fields: Any) -> Slot:
    """ada's slot `slot_id` scheduled (and last updated) at `at`; `fields` override."""
    return Slot(
        **{"id": slot_id, "agent_id": "ada", "scheduled_at": at, "updated_at": at, **fields}
    )
