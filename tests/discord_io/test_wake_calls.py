"""A wake over a live gateway: three REST calls, and wakes placed side by side within the caps.

The client here is connected (READY, the guild in discord.py's cache), as in the
running bot: the guild, its channels and categories come from the cache, so a
steady-state wake is the agent's membership, the channel (with category, topic
and overwrites) and the message (with its buttons). Concurrent wakes must still
never put a 51st channel into a category nor open a category twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from bot.core.agents import AgentConfig
from bot.core.clock import FakeClock
from bot.core.state import StateStore
from bot.discord_io.channel_waker import PrivateChannelWaker
from bot.discord_io.client import moderator_intents
from bot.discord_io.guild_access import Listing
from bot.discord_io.occupancy import Occupancy
from cogs.views import controls_view
from testkit.fakediscord import FakeDiscord
from testkit.fakediscord.fixtures import connected_client
from tests.discord_io.conftest import (
    GUILD_CHANNELS,
    MEMBER,
    MESSAGES,
    AfterALostLedger,
    agent_of,
    categories,
    fill_category,
    linked,
    make_slot,
    text_channels,
)


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    """Connected to the fake's gateway (READY, the guild cached), as in the running bot;
    the `waker` fixture is built over this one here."""
    quick = discord.Client(intents=moderator_intents(), guild_ready_timeout=0.2)
    async with connected_client(fake, quick) as connected:
        yield connected


async def _cached(fake: FakeDiscord, client: discord.Client, channel_id: int) -> None:
    """Until the gateway has told the client about `channel_id` (CHANNEL_CREATE)."""
    await fake.wait_for(lambda: client.get_channel(channel_id) is not None, what="channel cached")


def _custom_ids(message: dict[str, object]) -> list[str]:
    rows = message.get("components") or []
    assert isinstance(rows, list)
    return [c["custom_id"] for row in rows for c in row.get("components") or []]


@pytest.fixture
async def category_id(
    fake: FakeDiscord, client: discord.Client, waker: PrivateChannelWaker, agent: AgentConfig
) -> int:
    """The wake category, opened by a first wake for `agent` whose channel the client
    has since seen on the gateway: what follows is the steady state."""
    first = await waker.wake(agent, make_slot("s-first"), "p")
    assert first.ok, first.error
    await _cached(fake, client, int(first.reference or 0))
    (category,) = categories(fake)
    return int(category["id"])


async def test_a_steady_state_wake_is_the_channel_the_message_and_a_membership_look_up(
    fake: FakeDiscord, waker: PrivateChannelWaker, category_id: int, state: StateStore
) -> None:
    waker.controls = controls_view
    bob = agent_of(fake, "bob")
    before = len(fake.requests)

    slot = make_slot("s-steady", agent_id="bob")
    result = await waker.wake(bob, slot, "Review the open pull requests.")

    assert result.ok, result.error
    calls = [(r.method, r.route) for r in fake.requests[before:]]
    # No channel for an agent that left: its membership is asked first.
    assert calls == [("GET", MEMBER), ("POST", GUILD_CHANNELS), ("POST", MESSAGES)]
    made = fake.requests[before + 1]
    assert str(made.json["parent_id"]) == str(category_id)  # came in the same call
    assert "s-steady" in made.json["topic"]
    kinds = {(int(o["id"]), o["type"]) for o in made.json["permission_overwrites"]}
    assert (fake.everyone_role.id, 0) in kinds  # @everyone as a role, not a member
    assert (fake.bot_user.id, 1) in kinds and (fake.agents["bob"].id, 1) in kinds
    channel_id, message_id = await linked(state, slot.id)
    message = fake.messages_in(channel_id)[0]
    assert int(message["id"]) == message_id
    # The buttons went out with the message: no edit after it.
    assert _custom_ids(message) == ["slotctl:complete:s-steady", "slotctl:abort:s-steady"]
    allowed = fake.requests[before + 2].json["allowed_mentions"]
    assert [int(u) for u in allowed["users"]] == [fake.agents["bob"].id]
    assert len(categories(fake)) == 1


async def test_concurrent_wakes_fill_categories_to_the_cap_and_open_each_once(
    fake: FakeDiscord,
    client: discord.Client,
    waker: PrivateChannelWaker,
    agent: AgentConfig,
    category_id: int,
    state: StateStore,
) -> None:
    fill_category(fake, category_id, 46)  # 4 places left
    category = client.get_channel(category_id)
    assert isinstance(category, discord.CategoryChannel)
    await fake.wait_for(lambda: len(category.channels) == 46, what="the fillers cached")
    slots = [make_slot(f"s-burst-{i:02d}") for i in range(13)]
    _hold_channel_creations(fake, until=len(slots))

    results = await asyncio.gather(*(waker.wake(agent, slot, "p") for slot in slots))

    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert len({r.reference for r in results}) == 13
    assert sorted(c["name"] for c in categories(fake)) == ["agent-wakeups", "agent-wakeups-2"]
    second = next(c for c in categories(fake) if c["name"] == "agent-wakeups-2")
    parents = [fake.channel(int(r.reference or 0))["parent_id"] for r in results]
    assert parents.count(str(category_id)) == 4 and parents.count(second["id"]) == 9
    # Our own count kept up: Discord never had to refuse a full category.
    assert all(r.status == 201 for r in fake.requests_for("POST", GUILD_CHANNELS))
    for slot, result in zip(slots, results, strict=True):
        channel_id = int(result.reference or 0)
        message = fake.messages_in(channel_id)[0]
        assert await linked(state, slot.id) == (channel_id, int(message["id"]))


def _hold_channel_creations(fake: FakeDiscord, *, until: int) -> None:
    """Discord answers no text-channel creation until `until` of them are on their way:
    every placement is decided while the others are in flight, none after one landed."""
    original = fake.rest.create_channel
    held = 0
    go = asyncio.Event()

    async def gated(ctx: Any) -> Any:
        nonlocal held
        if ctx.json.get("type") == 0 and not go.is_set():
            held += 1
            if held >= until:
                go.set()
            await go.wait()
        return await original(ctx)

    fake.rest.create_channel = gated  # type: ignore[method-assign]


async def test_a_wake_after_a_lost_ledger_finds_its_channel_in_the_cache(
    fake: FakeDiscord,
    client: discord.Client,
    after_a_lost_ledger: AfterALostLedger,
    agent: AgentConfig,
) -> None:
    slot = make_slot("s-cache-topic")
    async with after_a_lost_ledger(slot) as (first, _, waker):
        await _cached(fake, client, int(first.reference or 0))
        before = len(fake.requests)
        again = await waker.wake(agent, slot, "p")
    assert again.ok and again.reference == first.reference
    # Found by the topic in the cache; only the history was read to see the message (the
    # membership look-up is dropped once the wake needs no message: sent or not by then).
    calls = [(r.method, r.route) for r in fake.requests[before:] if r.route != MEMBER]
    assert calls == [("GET", MESSAGES)]
    assert len(text_channels(fake)) == 1


class _Channel:
    """What `Occupancy` reads of a listed channel."""

    def __init__(self, channel_id: int, category_id: int | None) -> None:
        self.id = channel_id
        self.category_id = category_id


def _listing(*channels: tuple[int, int | None]) -> Listing:
    return Listing([_Channel(cid, cat) for cid, cat in channels])  # type: ignore[misc]


async def test_occupancy_counts_what_the_listing_does_not_show_yet(clock: FakeClock) -> None:
    occupancy = Occupancy(clock, forget_after_s=60)
    shown = _listing((1, 10), (2, 10), (3, 20))
    assert occupancy.counts(shown, [10, 20, 30]) == {10: 2, 20: 1, 30: 0}
    occupancy.reserve(10)
    assert occupancy.counts(shown, [10]) == {10: 3}
    occupancy.settle(10, 4)  # made; the listing has not caught up
    assert occupancy.counts(shown, [10]) == {10: 3}
    occupancy.reserve(20)
    occupancy.settle(20, None)  # refused: takes no room
    assert occupancy.counts(shown, [20]) == {20: 1}
    occupancy.deleted(1)  # still listed, but gone
    assert occupancy.counts(shown, [10]) == {10: 2}
    caught_up = _listing((2, 10), (3, 20), (4, 10))
    assert occupancy.counts(caught_up, [10]) == {10: 2}
    # A channel made and deleted by someone before we saw it stops counting in time.
    occupancy.reserve(30)
    occupancy.settle(30, 5)
    assert occupancy.counts(caught_up, [30]) == {30: 1}
    await clock.advance(61)
    assert occupancy.counts(caught_up, [30]) == {30: 0}
