"""A wake message's marker is read back by `marked_slot_id`: the benches and tools that find
our wake messages must not know its layout, which gained the claim's version."""

from __future__ import annotations

from bot.presenters.wake_message import marked_slot_id, wake_marker


def test_the_marker_is_read_with_and_without_the_version() -> None:
    assert marked_slot_id(f"wake up\n{wake_marker('s1')}") == "s1"
    assert marked_slot_id(f"wake up\n{wake_marker('s-2_20261206T0900')} · v7") == (
        "s-2_20261206T0900"
    )


def test_text_without_a_marker_names_no_slot() -> None:
    assert marked_slot_id(None) is None
    assert marked_slot_id("") is None
    assert marked_slot_id("slot-id: s1") is None  # not on a marker line
    assert marked_slot_id(wake_marker("")) is None
