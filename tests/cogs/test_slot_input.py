"""`/slot`'s options as a hostile or stale client may send them (DESIGN §3.2 through Discord).

Discord's own client keeps options within the registered types and limits;
discord.py passes on whatever arrives. Each value here gets an ephemeral
sentence naming the option, within Discord's limits, no traceback in the
answer or the log, and the slot unchanged; the next good command still works.
(Out-of-range numbers, over-long notes, odd slot ids and huge agent names are
in tests/faults/test_bad_input.py.)
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.core.models import SlotStatus
from cogs.interactions import SOMETHING_WENT_WRONG
from tests.cogs.support import general
from tests.e2e.harness import BotHarness

#: (case id, action, options besides action and slot_id, words the answer must hold).
#: Discord delivers each option in its registered type (the fake does the same), so the
#: hostile values are of the right type: too long, too large, invisible, not text at all.
HOSTILE: list[tuple[str, str, dict[str, Any], str]] = [
    ("note-20000", "defer", {"note": "n" * 20_000}, "`note` must be at most 500 characters"),
    ("note-501-emoji", "defer", {"note": "💤" * 501}, "`note` must be at most 500 characters"),
    ("minutes-2^70", "defer", {"minutes": 2**70}, "`minutes` must be between 1 and 1440"),
    ("minutes-min-int64", "defer", {"minutes": -(2**63)}, "`minutes` must be between 1 and 1440"),
    ("minutes-a-year", "defer", {"minutes": 525_600}, "`minutes` must be between 1 and 1440"),
    ("slot-id-empty", "defer", {"slot_id": ""}, "not a slot id"),
    ("slot-id-newline", "defer", {"slot_id": "abc\ndef"}, "not a slot id"),
    ("slot-id-nul", "defer", {"slot_id": "abc\x00"}, "No such slot"),
    ("note-lone-surrogate", "defer", {"note": "done \udcff"}, "refused the request: note:"),
    ("agent-mention", "defer", {"agent": "<@123>"}, "unknown agent"),
]


async def _ask(h: BotHarness, channel_id: int, options: dict[str, Any]) -> str:
    handle = await h.fake.inject_command(h.fake.admin, channel_id, "slot", options)
    await handle.wait_response()
    text = await handle.wait_text()
    assert not handle.refused, handle.refused
    assert handle.ephemeral, text
    assert text and len(text) <= 2000 and "Traceback" not in text, text
    return text


@pytest.mark.parametrize(
    ("action", "options", "says"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
)
async def test_a_hostile_slot_option_is_an_ephemeral_sentence_and_changes_nothing(
    moderator_bot: BotHarness,
    caplog: pytest.LogCaptureFixture,
    action: str,
    options: dict[str, Any],
    says: str,
) -> None:
    h = moderator_bot
    where = general(h.fake)
    slot = await h.add_slot("bob", in_s=3 * 3600)
    with caplog.at_level(logging.INFO):
        text = await _ask(h, where, {"action": action, "slot_id": slot.id, **options})
    assert says in text and text != SOMETHING_WENT_WRONG, text
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert await h.slot(slot.id) == slot
    # The command still works for the next, good request.
    text = await _ask(h, where, {"action": "defer", "slot_id": slot.id, "minutes": 30})
    assert (await h.slot(slot.id)).status is SlotStatus.DEFERRED, text
