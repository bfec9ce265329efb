"""Where a wake channel goes: our categories, 50 channels each, 500 in the guild.

A category holds 50 channels and a guild 500. A new channel goes into the
first of our categories (`<name>`, then overflow `<name>-2`, `<name>-3`, …)
with room; when all are full, the oldest *ended* wake channel makes room
first (before its retention), and only then is the next overflow category
opened. A full guild (30013) and missing permissions (403) become `WakeError`s
that say what to do, so the chain falls back.

Placements run side by side: the common case (a category has room) counts and
reserves without awaiting anything (`occupancy`), then makes the channel in one
call. Only making room (deleting an ended channel, opening a category) is one
at a time under `lock`, and looks again once it holds it, so a category is
opened once however many wakes find the others full at the same moment.

With shards (DESIGN §11) shard 0 alone opens categories and makes room (it
owns the clean-up): another shard only places its channels in the categories
it sees with room, and when none has any its wake fails with a `WakeError`
that says it waits for shard 0. The chain then tries the next waker, and
without one the slot stays pending and is retried with the wake backoff. So
that this is rare, sharded shard 0 keeps `ROOM_AHEAD` free places in its
categories ahead of need (`keep_room_ahead`, run when a channel appears).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import discord

from bot.core.agents import AgentConfig
from bot.core.clock import Clock
from bot.core.models import Slot
from bot.core.waker import ChannelLedger, ChannelLink
from bot.discord_io.channel_rules import (
    CATEGORY_CHANNEL_LIMIT,
    MAX_GUILD_CHANNELS,
    category_index,
    channel_name,
    channel_topic,
    guild_full_text,
    is_category_full,
    topic_slot_id,
)
from bot.discord_io.errors import DISCORD_FAILURES, WakeError, describe_failure
from bot.discord_io.guild_access import GuildAccess, Listing
from bot.discord_io.occupancy import FORGET_AFTER_S, Occupancy
from bot.discord_io.overwrites import WakeOverwrites

log = logging.getLogger(__name__)

#: Sharded shard 0 opens the next category when fewer free places than this are left.
ROOM_AHEAD = 10
#: After a refused category ahead (a full guild, missing permissions), wait this long before
#: trying again: every channel made would otherwise ask (and log) once more.
AHEAD_RETRY_S = 60.0
#: What another shard's wake says when no category has room (the log and the wake error).
WAITING_FOR_SHARD_0 = "waiting for shard 0 to open a wake category"


class ChannelPlacement:
    """Finds, makes and removes wake channels in the wake categories of one guild."""

    def __init__(
        self,
        access: GuildAccess,
        ledger: ChannelLedger,
        clock: Clock,
        *,
        category_name: str,
        admin_role_id: int | None,
        primary: bool = True,
        room_ahead: bool = False,
    ) -> None:
        self._access = access
        self._ledger = ledger
        self._clock = clock
        self._category_name = category_name
        self._overwrites = WakeOverwrites(access, admin_role_id)
        #: Shard 0 (or unsharded): opens categories and deletes ended channels to make room.
        self._primary = primary
        #: Sharded shard 0: keeps free places ahead of need for the other shards.
        self.keeps_room_ahead = primary and room_ahead
        self._ahead_refused_at: datetime | None = None
        self._occupancy = Occupancy(clock)
        #: Categories we opened that the listing may not show yet (id -> category, when).
        self._opened: dict[int, tuple[discord.CategoryChannel, datetime]] = {}
        #: Making room is one at a time (see the module docstring).
        self.lock = asyncio.Lock()

    # ---- finding ----------------------------------------------------------------

    def _index(self, name: str) -> int | None:
        return category_index(self._category_name, name)

    def is_ours(self, category: discord.CategoryChannel | None) -> bool:
        """`category` is one of our wake categories (by name: `<name>` or `<name>-k`)."""
        return category is not None and self._index(category.name) is not None

    def our_categories(self, listing: Listing) -> list[discord.CategoryChannel]:
        ours = [
            ch
            for ch in listing.channels
            if isinstance(ch, discord.CategoryChannel) and self._index(ch.name)
        ]
        shown = {c.id for c in ours}
        too_old = self._clock.now() - timedelta(seconds=FORGET_AFTER_S)
        self._opened = {
            cid: (c, at)
            for cid, (c, at) in self._opened.items()
            if cid not in shown and at > too_old
        }
        ours.extend(c for c, _ in self._opened.values())
        return sorted(ours, key=lambda c: (self._index(c.name) or 0, c.id))

    def our_text_channels(self, listing: Listing) -> list[discord.TextChannel]:
        """The text channels in our wake categories (whatever their names)."""
        ours = {c.id for c in self.our_categories(listing)}
        return [
            ch
            for ch in listing.channels
            if isinstance(ch, discord.TextChannel) and ch.category_id in ours
        ]

    async def channel_by_topic(self, slot_id: str) -> int | None:
        """The slot's wake channel in our categories by its topic, whoever made it (another
        shard woke the slot): where a change this moderator made is announced."""
        try:
            listing = await self._access.listing(await self._access.guild())
        except DISCORD_FAILURES as exc:
            log.warning("cannot list the wake channels: %s", describe_failure(exc))
            return None
        found = self.find_by_topic(listing, slot_id)
        return found.id if found is not None else None

    def find_by_topic(self, listing: Listing, slot_id: str) -> discord.TextChannel | None:
        """The slot's channel among our categories' channels, by the FULL id in the topic."""
        matches = [
            ch for ch in self.our_text_channels(listing) if topic_slot_id(ch.topic) == slot_id
        ]
        if len(matches) > 1:
            log.warning(
                "slot %s has %d channels (%s); using the oldest",
                slot_id,
                len(matches),
                ", ".join(str(c.id) for c in matches),
            )
        return min(matches, key=lambda c: c.id) if matches else None

    # ---- making -----------------------------------------------------------------

    async def create_channel(
        self,
        guild: discord.Guild,
        listing: Listing,
        agent: AgentConfig,
        user_id: int,
        slot: Slot,
    ) -> int:
        """Make the slot's channel with its category, topic and overwrites in one call."""
        name = channel_name(agent.id, slot.id)
        full: set[int] = set()
        while True:
            category = await self._category_with_room(guild, listing, full)
            made: int | None = None
            try:
                channel = await guild.create_text_channel(
                    name,
                    category=category,
                    topic=channel_topic(slot),
                    overwrites=self._overwrites.for_channel(guild, agent_user_id=user_id),
                    reason=f"wake agent {agent.id} for slot {slot.id}",
                )
                made = channel.id
            except discord.HTTPException as exc:
                refusal = await self._refusal(guild, f"create channel #{name}", exc, slot.id)
                if refusal is not None:
                    raise refusal from None
                if is_category_full(exc) and category.id not in full:
                    # Our count was stale (someone else added channels): count it full.
                    log.info("Discord says category %s is full; placing again", category.id)
                    full.add(category.id)
                    continue
                raise
            finally:
                self._occupancy.settle(category.id, made)
            break
        log.info(
            "made channel %s (#%s) in category %s for slot %s",
            channel.id,
            name,
            category.name,
            slot.id,
        )
        return channel.id

    def _reserve_room(
        self, listing: Listing, full: Collection[int]
    ) -> discord.CategoryChannel | None:
        """The first of our categories with room, a place in it reserved; no await inside."""
        categories = self.our_categories(listing)
        counts = self._occupancy.counts(listing, [c.id for c in categories])
        for category in categories:
            if category.id not in full and counts[category.id] < CATEGORY_CHANNEL_LIMIT:
                self._occupancy.reserve(category.id)
                return category
        return None

    async def _category_with_room(
        self, guild: discord.Guild, listing: Listing, full: Collection[int] = ()
    ) -> discord.CategoryChannel:
        """A wake category with fewer than 50 channels, a place in it reserved.

        Order: the first of our categories with room; else (one at a time) delete
        the oldest ENDED wake channel in one of them, early, before its
        retention; else open the next overflow category.
        """
        category = self._reserve_room(listing, full)
        if category is not None:
            return category
        async with self.lock:
            # Another wake may have made room while this one waited for the lock.
            listing = await self._access.listing(guild)
            category = self._reserve_room(listing, full)
            if category is not None:
                return category
            if not self._primary:
                log.warning(
                    "no wake category has room (%d of ours, full or none): %s",
                    len(self.our_categories(listing)),
                    WAITING_FOR_SHARD_0,
                )
                raise WakeError(
                    f"every wake category is full or none exists yet: {WAITING_FOR_SHARD_0} "
                    "(only shard 0 opens categories and deletes ended channels)"
                )
            categories = self.our_categories(listing)
            if categories and await self._free_one(listing, {c.id for c in categories}):
                category = self._reserve_room(listing, full)
                if category is not None:
                    return category
            category = await self._create_category(guild, categories)
            self._opened[category.id] = (category, self._clock.now())
            self._occupancy.reserve(category.id)
            return category

    async def keep_room_ahead(self) -> discord.CategoryChannel | None:
        """Sharded shard 0: open the next category before the others' wakes find none.

        Run when a channel appears in the guild (any shard's wake) and at start.
        Answers the category opened, if one was; a refusal is logged, not raised
        (the next channel tries again, and wakes on shard 0 still make room).
        """
        if not self.keeps_room_ahead or self.lock.locked():
            return None  # a placement making room now looks again once it holds the lock
        refused = self._ahead_refused_at
        if refused is not None and self._clock.now() - refused < timedelta(seconds=AHEAD_RETRY_S):
            return None
        async with self.lock:
            try:
                guild = await self._access.guild()
                listing = await self._access.listing(guild)
                categories = self.our_categories(listing)
                counts = self._occupancy.counts(listing, [c.id for c in categories])
                free = sum(max(0, CATEGORY_CHANNEL_LIMIT - counts[c.id]) for c in categories)
                if free >= ROOM_AHEAD:
                    return None
                log.info(
                    "%d free place(s) left in %d wake categor(ies): opening the next one ahead "
                    "of need",
                    free,
                    len(categories),
                )
                category = await self._create_category(guild, categories)
            except WakeError as exc:
                self._ahead_refused_at = self._clock.now()
                log.warning("could not open a wake category ahead of need: %s", exc)
                return None
            except DISCORD_FAILURES as exc:
                self._ahead_refused_at = self._clock.now()
                log.warning(
                    "could not open a wake category ahead of need: %s", describe_failure(exc)
                )
                return None
            self._ahead_refused_at = None
            self._opened[category.id] = (category, self._clock.now())
            return category

    async def _free_one(self, listing: Listing, category_ids: set[int]) -> bool:
        """Delete the oldest ended wake channel in our categories; False when none is."""
        channels = listing.by_id()
        for link in await self._ledger.ended_links(self._clock.now()):
            channel = channels.get(link.channel_id)
            if channel is None or channel.category_id not in category_ids:
                continue
            if await self.delete_channel(link, reason="wake category full"):
                log.info(
                    "category full: deleted channel %s of ended slot %s before its retention",
                    link.channel_id,
                    link.slot_id,
                )
                return True
        return False

    async def _create_category(
        self, guild: discord.Guild, existing: Sequence[discord.CategoryChannel]
    ) -> discord.CategoryChannel:
        taken = {self._index(c.name) for c in existing}
        index = 1
        while index in taken:
            index += 1
        name = self._category_name if index == 1 else f"{self._category_name}-{index}"
        try:
            category = await guild.create_category(
                name,
                overwrites=self._overwrites.for_channel(guild, agent_user_id=None),
                reason="wake channels for agents"
                + ("" if index == 1 else f" (the first {index - 1} categories are full)"),
            )
        except discord.HTTPException as exc:
            refusal = await self._refusal(guild, f"create category {name!r}", exc, None)
            if refusal is not None:
                raise refusal from None
            raise
        log.info("made wake category %s (%s)", category.id, name)
        return category

    async def _refusal(
        self, guild: discord.Guild, action: str, exc: discord.HTTPException, slot_id: str | None
    ) -> WakeError | None:
        """A refusal a person must act on (permissions, a full guild) as a `WakeError`."""
        if isinstance(exc, discord.Forbidden):
            return WakeError(await self._access.forbidden_text(guild, action, exc))
        if exc.code == MAX_GUILD_CHANNELS:
            return WakeError(guild_full_text(guild.id, slot_id))
        return None

    # ---- removing ---------------------------------------------------------------

    async def _moved_away(self, channel: object) -> bool:
        """A text channel no longer in one of our wake categories (its category looked up
        when the cache does not hold it)."""
        if not isinstance(channel, discord.TextChannel):
            return False
        if channel.category_id is None:
            return True
        category = channel.category or await self._access.channel(channel.category_id)
        return not (isinstance(category, discord.CategoryChannel) and self.is_ours(category))

    async def delete_channel(
        self, link: ChannelLink, *, reason: str, only_where_made: bool = False
    ) -> bool:
        """Delete a linked channel and forget the link; True when it is gone now.

        `only_where_made`: a channel a person moved out of the wake categories is theirs
        now (kept to read later): the link is forgotten, the channel left as it is."""
        try:
            channel = await self._access.channel(link.channel_id)
            if only_where_made and await self._moved_away(channel):
                log.info(
                    "channel %s of slot %s was moved out of the wake category: left to whoever "
                    "moved it",
                    link.channel_id,
                    link.slot_id,
                )
                await self._ledger.forget_channel(link.slot_id)
                return False
            if isinstance(channel, discord.abc.GuildChannel):
                await channel.delete(reason=f"{reason} (slot {link.slot_id})")
                self._occupancy.deleted(channel.id)
        except discord.NotFound:
            pass  # already gone: forgetting it is all that is left
        except DISCORD_FAILURES as exc:
            log.warning(
                "could not delete channel %s of slot %s: %s",
                link.channel_id,
                link.slot_id,
                describe_failure(exc),
            )
            return False
        await self._ledger.forget_channel(link.slot_id)
        return True
