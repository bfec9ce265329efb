"""`/slot`: refusals, the announcement in the wake channel, autocomplete labels."""

from __future__ import annotations

from datetime import timedelta

from bot.core.models import Action, SlotStatus
from bot.presenters.discord_embed import (
    CHOICE_NAME_LIMIT,
)
from bot.presenters.discord_slot import (
    refusal_text,
    slot_change_notice,
    slot_change_reply,
    slot_choice,
)
from tests.presenters.presenter_samples import (
    BERLIN,
    NOW,
    TODAY,
    slot,
)


def test_a_refusal_says_what_the_slot_is_and_what_would_work() -> None:
    now_ongoing = slot("s1", NOW, status=SlotStatus.ONGOING)
    text = refusal_text(
        Action.RESUME, "s1", code="invalid_transition", detail="x", slot=now_ongoing
    )
    assert "Cannot resume slot `s1`" in text and "▶️ ongoing" in text and "paused" in text
    busy = refusal_text(Action.RESUME, "s1", code="agent_busy", detail="x", slot=now_ongoing)
    assert "another ongoing or paused slot" in busy


def test_the_announcement_names_the_person_and_the_slot_and_mentions_nobody() -> None:
    done = slot("s1", NOW, status=SlotStatus.FINISHED, title="Ship <@123> @everyone")
    text = slot_change_notice(done, Action.COMPLETE, "Ada", note="by hand", tz=BERLIN)
    assert "**Ada**" in text and "`s1`" in text and "/slot complete" in text
    assert "✅ finished" in text and "Note: by hand" in text
    deferred = slot("s2", NOW + timedelta(minutes=30), status=SlotStatus.DEFERRED)
    assert "Rescheduled for 13:30" in slot_change_notice(
        deferred, Action.DEFER, "Ada", note=None, tz=BERLIN
    )
    pressed = slot_change_notice(done, Action.ABORT, "Ada", note=None, tz=BERLIN, via="button")
    assert "**Ada** pressed the Abort button" in pressed and "Please stop working on it." in pressed
    reply = slot_change_reply(done, Action.COMPLETE, BERLIN, announced_in="[#c](u)")
    assert "completed" in reply and "Announced in [#c](u)" in reply
    assert "Not announced" in slot_change_reply(done, Action.COMPLETE, BERLIN, announced_in=None)


def test_slot_choices_fit_discord() -> None:
    long = slot("0123456789abcdef", NOW, title="word " * 50)
    name, value = slot_choice(long, BERLIN, TODAY)
    assert value == "0123456789abcdef"
    assert len(name) <= CHOICE_NAME_LIMIT and name.startswith("[01234567] alice 13:00")
