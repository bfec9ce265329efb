"""SHARD=i/n: the pure rule (which agents a moderator handles) and its parsing."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.agents import AgentConfig
from bot.core.shards import (
    MAX_SHARDS,
    Shard,
    ShardError,
    is_primary,
    owned_agents,
    parse_shard,
    shard_index,
)


@pytest.mark.parametrize(
    ("text", "index", "count"),
    [("0/1", 0, 1), ("1/2", 1, 2), (" 2 / 3 ", 2, 3), ("0/1024", 0, 1024)],
)
def test_a_shard_is_read_from_i_slash_n(text: str, index: int, count: int) -> None:
    assert parse_shard(text) == Shard(index, count)
    assert str(parse_shard(text)) == f"{index}/{count}"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2/2", "between 0 and 1"),
        ("5/2", "between 0 and 1"),
        ("-1/3", "between 0 and 2"),
        ("0/0", "between 1 and 1024"),
        ("0/-2", "between 1 and 1024"),
        ("0/1025", "between 1 and 1024"),
        ("a/b", "not of the form i/n"),
        ("1", "not of the form i/n"),
        ("1/2/3", "not of the form i/n"),
        ("", "not of the form i/n"),
        ("1.0/2", "not of the form i/n"),
        ("١/٢", "not of the form i/n"),  # digits, but not ASCII ones
        ("0/" + "9" * 5000, "at most 1024 shards"),  # no int() of a huge string
        ("9" * 40 + "/2", "at most 1024 shards"),
        ("x" * 10_000, "not of the form i/n"),
    ],
)
def test_bad_shards_are_named_clearly(text: str, says: str) -> None:
    with pytest.raises(ShardError) as caught:
        parse_shard(text)
    message = str(caught.value)
    assert says in message
    assert message.startswith("SHARD=")
    assert len(message) < 200  # a huge value is cut, not echoed whole


def test_the_owner_is_the_sha256_of_the_agent_id_modulo_n() -> None:
    for agent in ("alice", "bob", "carol", "agent0042", "Ærøskøbing"):
        expected = int(hashlib.sha256(agent.encode()).hexdigest(), 16) % 3
        assert shard_index(agent, 3) == expected
        owners = [i for i in range(3) if Shard(i, 3).owns(agent)]
        assert owners == [expected]


@given(
    st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=30, unique=True),
    st.integers(1, 8),
)
def test_every_agent_has_exactly_one_shard(names: list[str], count: int) -> None:
    parts = [{a for a in names if Shard(i, count).owns(a)} for i in range(count)]
    assert set().union(*parts) == set(names)
    assert sum(len(p) for p in parts) == len(names)


def test_an_unsharded_moderator_handles_every_agent_and_is_primary() -> None:
    agents = [AgentConfig(id=name) for name in ("alice", "bob", "carol")]
    assert owned_agents(None, agents) == agents
    assert is_primary(None) and is_primary(Shard(0, 2)) and not is_primary(Shard(1, 2))
    split = [owned_agents(Shard(i, 2), agents) for i in range(2)]
    assert sorted(a.id for part in split for a in part) == ["alice", "bob", "carol"]


def test_a_shard_made_in_code_is_checked_too() -> None:
    with pytest.raises(ShardError):
        Shard(3, 3)
    with pytest.raises(ShardError):
        Shard(0, MAX_SHARDS + 1)


@pytest.mark.parametrize("text", ["2/2", "-1/3", "a/b", "0/" + "9" * 5000])
def test_the_error_carries_its_detail_apart_from_the_variable(text: str) -> None:
    with pytest.raises(ShardError) as caught:
        parse_shard(text)
    error = caught.value
    assert "SHARD" not in error.detail
    assert error.value is not None and len(error.value) <= 41
    assert str(error) == f"SHARD={error.value!r}: {error.detail}"


def test_a_shard_made_in_code_names_no_variable() -> None:
    with pytest.raises(ShardError) as caught:
        Shard(3, 3)
    assert caught.value.value is None
    assert str(caught.value) == caught.value.detail
