"""A slot packed for the cache comes back equal: every field, its set of given fields, and an
`event_data` of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bot.core.models import Slot, SlotStatus
from bot.core.packed import pack, unpack

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ZONES = st.sampled_from([UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("America/St_Johns")])
instants = st.builds(
    lambda minutes, tz: (T0 + timedelta(minutes=minutes)).astimezone(tz),
    st.integers(-(10**6), 10**6),
    ZONES,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
slots = st.builds(
    Slot,
    id=st.text(min_size=1, max_size=40),
    agent_id=st.text(min_size=1, max_size=20),
    scheduled_at=instants,
    updated_at=instants,
    status=st.sampled_from(list(SlotStatus)),
    version=st.integers(0, 10**9),
    priority=st.integers(0, 100),
    estimated_duration_min=st.integers(1, 10**4),
    slot_type=st.text(max_size=20),
    title=st.text(max_size=40),
    prompt=st.text(max_size=200),
    event_data=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    series_id=st.none() | st.text(min_size=1, max_size=20),
    created_at=st.none() | instants,
    started_at=st.none() | instants,
    ended_at=st.none() | instants,
    note=st.none() | st.text(max_size=60),
)


@given(slots)
def test_every_slot_comes_back_equal_with_the_same_given_fields(slot: Slot) -> None:
    back = unpack(pack(slot))
    assert back == slot
    assert back.model_fields_set == slot.model_fields_set
    assert back.model_dump_json() == slot.model_dump_json()
    assert back.scheduled_at.tzinfo == slot.scheduled_at.tzinfo


def test_a_slot_given_only_its_required_fields_keeps_the_rest_unset() -> None:
    slot = Slot(id="s1", agent_id="ada", scheduled_at=T0, updated_at=T0)
    back = unpack(pack(slot))
    assert back.model_fields_set == {"id", "agent_id", "scheduled_at", "updated_at"}
    assert back.model_dump(exclude_unset=True) == slot.model_dump(exclude_unset=True)


def test_each_unpacked_slot_has_an_event_data_of_its_own() -> None:
    for data in ({}, {"ticket": 7}):
        held = pack(Slot(id="s1", agent_id="ada", scheduled_at=T0, updated_at=T0, event_data=data))
        first, second = unpack(held), unpack(held)
        first.event_data["touched"] = True
        assert second.event_data == data
        assert unpack(held).event_data == data


def test_text_that_slots_repeat_is_held_once() -> None:
    def fresh(*parts: str) -> str:
        return "".join(parts)  # a new string object each call, as a database row's are

    packed = [
        pack(
            Slot(
                id=f"s{n}",
                agent_id=fresh("ad", "a"),
                scheduled_at=T0,
                updated_at=T0,
                title=fresh("daily ", "stand-up"),
                prompt=fresh("say ", "hi"),
            )
        )
        for n in range(3)
    ]
    assert fresh("ad", "a") is not fresh("ad", "a")
    for name in ("agent_id", "title", "prompt"):
        assert len({id(getattr(unpack(p), name)) for p in packed}) == 1, name
