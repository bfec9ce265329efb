"""The log's line for an event: an abort the moderator decided itself says why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.events import SlotAbortedByRule, SlotMisfired, StuckSlotAborted
from bot.presenters.events import TROUBLE, event_line

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            SlotMisfired(at=AT, agent_id="ada", slot_id="s1", note="missed by 2 h"),
            "ada: misfired s1: missed by 2 h",
        ),
        (
            StuckSlotAborted(at=AT, agent_id="bob", slot_id="s2", note="silent 3 h"),
            "bob: stuck slot aborted s2: silent 3 h",
        ),
    ],
)
def test_an_abort_by_a_rule_is_logged_with_its_note_as_trouble(
    event: SlotAbortedByRule, line: str
) -> None:
    assert event_line(event, event.slot_id) == line
    assert isinstance(event, TROUBLE)
