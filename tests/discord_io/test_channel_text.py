"""The texts the channel waker writes: names, topics (the identity), wake messages."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.core.reply_words import REPLY_HELP
from bot.discord_io.channel_rules import TOPIC_LIMIT, channel_name, channel_topic, topic_slot_id
from bot.presenters.discord_embed import MESSAGE_LIMIT
from bot.presenters.wake_message import claim_marker, wake_marker, wake_messages
from tests.discord_io.conftest import make_slot

VALID_NAME = re.compile(r"^[a-z0-9_-]{1,100}$")


def test_channel_name_is_agent_and_id_prefix() -> None:
    assert channel_name("alice", "01HZX3K9Q7ABCDEFGHJK") == "alice-01hzx3k9q7ab"
    assert channel_name("bob", "Slot 42 / Übung") == "bob-slot-42-bung"
    assert channel_name("bob", "///") == "bob-slot"
    # An occurrence of a series: the series' prefix and the nominal local start (DESIGN §5).
    assert (
        channel_name("alice", "9f2c4e1ab3d5e7f0_20260329T023000") == "alice-9f2c4e1ab3d5-0329-0230"
    )
    assert channel_name("alice", "x_20261301T000000") == "alice-x_20261301t0"  # no 13th month


@given(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,31}", fullmatch=True), st.text(min_size=1))
def test_channel_name_is_always_valid(agent_id: str, slot_id: str) -> None:
    assert VALID_NAME.match(channel_name(agent_id, slot_id))


@given(
    slot_id=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)
    .map(lambda s: "".join(s.split()))
    .filter(bool),
    title=st.text(max_size=2000),
)
def test_topic_round_trips_the_full_id(slot_id: str, title: str) -> None:
    topic = channel_topic(make_slot(slot_id, title=title))
    assert len(topic) <= TOPIC_LIMIT
    assert topic_slot_id(topic) == slot_id


def test_a_prefix_is_not_the_id() -> None:
    long_a = "01HZX3K9Q7ABCDEFGHJK-aaaa"
    long_b = "01HZX3K9Q7ABCDEFGHJK-bbbb"
    assert channel_name("alice", long_a) == channel_name("alice", long_b)
    assert topic_slot_id(channel_topic(make_slot(long_a))) != long_b
    assert topic_slot_id("just a human topic") is None
    assert topic_slot_id(None) is None


def test_short_prompt_is_one_message_with_mention_prompt_help_and_marker() -> None:
    slot = make_slot("slot-1")
    [message] = wake_messages(1234, slot, "Do the thing.")
    assert message.startswith("<@1234>")
    assert "Do the thing." in message
    assert REPLY_HELP in message
    assert wake_marker("slot-1") in message


@given(
    st.integers(min_value=1, max_value=9000),
    st.sampled_from([" ", "\n", ""]),
)
def test_long_prompt_is_split_without_losing_text(size: int, sep: str) -> None:
    prompt = sep.join(f"w{i}" for i in range(size))[:size]
    slot = make_slot("slot-long")
    parts = wake_messages(99, slot, prompt)
    assert all(len(p) <= MESSAGE_LIMIT for p in parts)
    assert parts[0].startswith("<@99>") and wake_marker("slot-long") in parts[0]
    assert sum("<@99>" in p for p in parts) == 1
    assert REPLY_HELP in parts[-1]
    # Cuts fall on whitespace, so only whitespace may differ.
    squeezed = "".join("".join(parts).split())
    assert "".join(prompt.split()) in squeezed.replace("*(continuedbelow)*", "").replace(
        "".join(claim_marker(slot).split()), ""
    )
