"""The private-channel waker: the Dirigent way of waking an agent (DESIGN §5).

Each slot gets its own text channel that only its agent, the moderator and
(optionally) the admin role can see, and the wake prompt is posted there,
mentioning the agent. What makes this hard is doing it exactly once across
crashes and against Discord's limits:

* identity is the channel *topic*, which carries the full slot id; a name is
  only `<agent>-<slot id prefix>` and two slots may share one;
* the ledger learns the channel before the message is posted (an agent may
  answer within milliseconds), and the message id after; a restart that finds
  a link without a message looks into the channel's history before posting;
* a category holds 50 channels and a guild 500: ended channels make room
  first, then a second category `<name>-2` is opened; a full guild (30013) and
  missing permissions (403) are clear wake errors, so the chain falls back.

A steady-state wake is three REST calls: the agent's membership (asked at
once, `MembershipCheck`), the channel (category, topic and overwrites in one)
and the wake message (with the buttons the cogs attach, `controls`); the
guild, its channels and categories come from the gateway cache. Rate limits
are discord.py's job: it waits out a 429 and retries by itself.
The rules (names, topics, limits) are in `channel_rules`, the placement in
categories in `placement`, the guild lookups in `guild_access`, the message
text in `bot.presenters.wake_message`; this module is the wake itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

import discord

from bot.core.agents import AgentConfig
from bot.core.clock import Clock, SystemClock
from bot.core.crashpoints import crash_point
from bot.core.models import Slot
from bot.core.waker import ChannelLedger, ChannelLink, WakeResult
from bot.discord_io.channel_rules import topic_slot_id
from bot.discord_io.errors import DISCORD_FAILURES, WakeError, describe_failure, http_detail
from bot.discord_io.guild_access import GuildAccess, MembershipCheck
from bot.discord_io.keyed_lock import KeyedLocks
from bot.discord_io.placement import ChannelPlacement
from bot.net import TRANSIENT_NETWORK_ERRORS
from bot.presenters.wake_message import (
    claim_marker,
    message_parts,
    wake_marker,
    wake_messages,
    woken_again,
)

log = logging.getLogger(__name__)

#: Channel creations in flight at once. They share one Discord rate-limit bucket
#: (POST /guilds/{id}/channels, 50 requests), and discord.py sleeps out the whole
#: bucket's reset (a second) once the requests in flight use up its tokens (from
#: about 25 in flight): a burst of 100 wakes let through at once stalled every one
#: of them for 1 s. 8 to 24 measured alike in bench/scale.py.
CREATING_AT_ONCE = 16

#: The buttons for a slot's wake message (None: none for this slot id).
Controls = Callable[[str], discord.ui.View | None]


class PrivateChannelWaker:
    """Wake an agent in its own private channel of guild `guild_id`.

    `client` must be logged in. The guild comes from the gateway cache when the
    client is connected (`client.get_guild`), otherwise it is fetched over REST
    (enough for `await client.login(token)` alone); channel lists follow the
    same rule. Not thread-safe; safe for concurrent wakes on one event loop.
    """

    name = "discord"

    def __init__(
        self,
        client: discord.Client,
        guild_id: int,
        ledger: ChannelLedger,
        *,
        category_name: str = "agent-wakeups",
        admin_role_id: int | None = None,
        retention_s: float = 86400.0,
        clock: Clock | None = None,
        guild_refresh_s: float = 300.0,
        primary: bool = True,
        room_ahead: bool = False,
    ) -> None:
        clock = clock or SystemClock()
        self._access = GuildAccess(client, guild_id, clock, refresh_s=guild_refresh_s)
        self._ledger = ledger
        self._placement = ChannelPlacement(
            self._access,
            ledger,
            clock,
            category_name=category_name,
            admin_role_id=admin_role_id,
            primary=primary,
            room_ahead=room_ahead,
        )
        self._retention = timedelta(seconds=retention_s)
        #: Shard 0 (or unsharded): it alone sweeps leftovers in the wake categories.
        self._primary = primary
        self._slot_locks = KeyedLocks()
        self._creating = asyncio.Semaphore(CREATING_AT_ONCE)
        #: Set by the cogs that answer the buttons: they go out with the wake
        #: message itself, not in an edit after it (one Discord call fewer).
        self.controls: Controls | None = None

    @property
    def placement(self) -> ChannelPlacement:
        """Where channels go; shard 0's cogs keep its categories' room ahead of need."""
        return self._placement

    # ---- Waker ----------------------------------------------------------

    def can_wake(self, agent: AgentConfig) -> bool:
        return agent.discord_user_id is not None

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        if agent.discord_user_id is None:
            return WakeResult.failure(self.name, f"agent {agent.id} has no discord_user_id")
        try:
            async with self._slot_locks(slot.id):
                member = self._access.membership(await self._access.guild(), agent)
                try:
                    channel_id = await self._wake(member, slot, prompt)
                finally:
                    member.close()
        except WakeError as exc:
            log.warning("discord wake of slot %s (agent %s) failed: %s", slot.id, agent.id, exc)
            return WakeResult.failure(self.name, str(exc))
        except discord.HTTPException as exc:
            error = f"Discord refused a call while waking slot {slot.id}: {http_detail(exc)}"
            log.warning("%s", error)
            return WakeResult.failure(self.name, error)
        except TRANSIENT_NETWORK_ERRORS as exc:
            error = f"cannot reach Discord while waking slot {slot.id}: {type(exc).__name__} {exc}"
            log.warning("%s", error)
            return WakeResult.failure(self.name, error)
        except Exception as exc:  # a wake never raises: the chain must go on
            log.exception("discord wake of slot %s: unexpected error", slot.id)
            return WakeResult.failure(
                self.name, f"unexpected {type(exc).__name__} while waking slot {slot.id}: {exc}"
            )
        return WakeResult.success(self.name, reference=str(channel_id), channel_id=channel_id)

    async def notify(self, agent: AgentConfig, slot: Slot, text: str) -> bool:
        """Post `text` into the slot's existing channel, mentioning nobody.

        For acknowledgements and nudges (DESIGN §6): agents read bot messages, so a
        mention here could start a reply loop. False (logged) when there is no
        channel or Discord refused.
        """
        if not text.strip():
            log.warning("empty notice for slot %s not posted", slot.id)
            return False
        link = await self._ledger.channel_link(slot.id)
        if link is None:
            log.warning(
                "no channel known for slot %s (agent %s); notice not posted", slot.id, agent.id
            )
            return False
        target = self._access.messageable(link.channel_id)
        try:
            for part in message_parts(text):
                await target.send(part, allowed_mentions=discord.AllowedMentions.none())
        except DISCORD_FAILURES as exc:
            log.warning(
                "notice for slot %s not posted in channel %s: %s",
                slot.id,
                link.channel_id,
                describe_failure(exc),
            )
            return False
        return True

    async def adopt(
        self, channel: object, owner: Callable[[str], str | None]
    ) -> ChannelLink | None:
        """Take over a wake channel the ledger does not know, by its topic (DESIGN §11).

        After shards are reconfigured (or the state file was lost) a running
        slot's channel was made by another moderator. A text channel in one of
        our wake categories names its slot by the full id in its topic; `owner`
        says which of this moderator's agents holds that slot (None: not ours,
        left alone). The link is saved, so replies there are handled from now on.
        """
        if not isinstance(channel, discord.TextChannel):
            return None
        slot_id = topic_slot_id(channel.topic)
        if slot_id is None or not self._placement.is_ours(channel.category):
            return None
        agent_id = owner(slot_id)
        if agent_id is None:
            return None
        await self._ledger.save_channel(slot_id, agent_id, channel.id)
        log.info(
            "adopted channel %s of slot %s (agent %s) by its topic", channel.id, slot_id, agent_id
        )
        return ChannelLink(slot_id, agent_id, channel.id)

    # ---- the wake, step by step -----------------------------------------

    async def _wake(self, member: MembershipCheck, slot: Slot, prompt: str) -> int:
        agent, user_id = member.agent, member.user_id
        link = await self._ledger.channel_link(slot.id)
        if link is not None and link.message_id is not None:
            if await self._existing_channel(link) is None:
                link = None  # deleted meanwhile: made again below
            elif await self._our_wake_message(link.channel_id, claim_marker(slot)) is not None:
                log.info(
                    "slot %s already woken in channel %s (message %s); not posting again",
                    slot.id,
                    link.channel_id,
                    link.message_id,
                )
                return link.channel_id
            else:  # a later claim (released, maybe edited): the prompt as it is now
                await member.require()
                await self._post_wake(link.channel_id, user_id, slot, woken_again(prompt))
                log.info("woke agent %s again for slot %s in its channel", agent.id, slot.id)
                return link.channel_id
        guild = await self._access.guild()
        fresh = False
        channel_id: int | None = None
        if link is not None:
            channel_id = await self._existing_channel(link)
        if channel_id is None:
            # Found by the full slot id in a topic, or made. Wakes of other slots
            # place theirs side by side (`placement`); this slot's lock is held.
            async with self._creating:
                listing = await self._access.listing(guild)
                found = self._placement.find_by_topic(listing, slot.id)
                if found is not None:
                    log.info("found channel %s of slot %s again by its topic", found.id, slot.id)
                    channel_id = found.id
                else:  # none for an agent that left (its look-up is under way)
                    await member.require()
                    channel_id = await self._placement.create_channel(
                        guild, listing, agent, user_id, slot
                    )
                    fresh = True
            # Saved before the message: an agent may answer within milliseconds.
            await self._ledger.save_channel(slot.id, agent.id, channel_id)
            crash_point("after_channel")
        if not fresh:
            posted = await self._our_wake_message(channel_id, wake_marker(slot.id))
            if posted is not None:
                log.info(
                    "wake message of slot %s already in channel %s; not posting again",
                    slot.id,
                    channel_id,
                )
                await self._ledger.save_message(slot.id, posted)
                return channel_id
        await member.require()
        message_id = await self._post_wake(channel_id, user_id, slot, prompt)
        log.info(
            "woke agent %s for slot %s in channel %s (message %s)",
            agent.id,
            slot.id,
            channel_id,
            message_id,
        )
        return channel_id

    async def _existing_channel(self, link: ChannelLink) -> int | None:
        """The linked channel's id if it still exists; a deleted one is forgotten."""
        try:
            channel = await self._access.channel(link.channel_id)
        except discord.NotFound:
            log.warning(
                "channel %s of slot %s is gone; a new one will be made",
                link.channel_id,
                link.slot_id,
            )
            await self._ledger.forget_channel(link.slot_id)
            return None
        except discord.Forbidden as exc:
            raise WakeError(
                f"cannot see channel {link.channel_id} of slot {link.slot_id}: "
                f"missing View Channel there ({http_detail(exc)})"
            ) from None
        return channel.id

    async def _our_wake_message(self, channel_id: int, marker: str) -> int | None:
        """Our wake message carrying `marker` in the channel, if a crashed run posted it.

        Newest first: a re-wake for a later claim comes after whatever the agent wrote
        since the first wake (oldest first, 50 messages of progress hid it)."""
        me = self._access.me_id()
        target = self._access.messageable(channel_id)
        try:
            async for message in target.history(limit=50, oldest_first=False):
                if message.author.id == me and marker in message.content:
                    return message.id
        except discord.Forbidden as exc:
            # Without Read Message History we cannot tell; posting again is the
            # lesser harm than leaving the agent asleep.
            log.warning(
                "cannot read history of channel %s (%s); posting the wake message",
                channel_id,
                http_detail(exc),
            )
        return None

    async def _post_wake(self, channel_id: int, user_id: int, slot: Slot, prompt: str) -> int:
        target = self._access.messageable(channel_id)
        only_agent = discord.AllowedMentions(
            everyone=False, users=[discord.Object(id=user_id)], roles=False, replied_user=False
        )
        parts = wake_messages(user_id, slot, prompt)
        view = self.controls(slot.id) if self.controls is not None else None
        if view is not None:
            # Presses are routed by custom_id on the shard that answers them; a
            # finished view is sent but not kept in memory per message here.
            view.stop()
        try:
            if view is None:
                first = await target.send(parts[0], allowed_mentions=only_agent)
            else:
                first = await target.send(parts[0], allowed_mentions=only_agent, view=view)
        except discord.Forbidden as exc:
            raise WakeError(
                f"cannot post in channel {channel_id} of slot {slot.id}: "
                f"missing {await self._access.missing_in_channel(channel_id)} "
                f"({http_detail(exc)})"
            ) from None
        except discord.NotFound:
            await self._ledger.forget_channel(slot.id)
            raise WakeError(
                f"channel {channel_id} of slot {slot.id} was deleted before the wake message "
                "was posted; the next attempt makes a new one"
            ) from None
        crash_point("after_message")
        await self._ledger.save_message(slot.id, first.id)
        for part in parts[1:]:
            try:
                await target.send(part, allowed_mentions=discord.AllowedMentions.none())
            except DISCORD_FAILURES as exc:
                # The agent was woken; the rest of a very long prompt is lost. Say so.
                log.error(
                    "slot %s: the wake message was posted but a continuation was not (%s)",
                    slot.id,
                    exc,
                )
                break
        return first.id

    # ---- lifecycle --------------------------------------------------------

    async def cleanup(self, now: datetime, *, final_slot_ids: Collection[str] = ()) -> int:
        """Delete wake channels no longer needed; how many were deleted.

        Only two kinds go: channels the ledger knows ended more than
        `CHANNEL_RETENTION_S` before `now`, and (for start-up) channels in our
        wake categories that the ledger does not know and whose topic names a
        slot the caller reports as final in `final_slot_ids`. Nothing else is
        touched, whatever its name. The leftovers are swept only by shard 0
        (the others' ledgers know only their own channels).
        """
        deleted = 0
        for link in await self._ledger.ended_links(now - self._retention):
            retired = "slot ended, retention passed"
            if await self._placement.delete_channel(link, reason=retired, only_where_made=True):
                deleted += 1
        if final_slot_ids and self._primary:
            deleted += await self._delete_orphans(set(final_slot_ids))
        if deleted:
            log.info("cleanup deleted %d wake channel(s)", deleted)
        return deleted

    async def _delete_orphans(self, final_slot_ids: set[str]) -> int:
        guild = await self._access.guild()
        listing = await self._access.listing(guild)
        deleted = 0
        for channel in self._placement.our_text_channels(listing):
            slot_id = topic_slot_id(channel.topic)
            if slot_id is None or slot_id not in final_slot_ids:
                continue
            if await self._ledger.channel_link(slot_id) is not None:
                continue  # the ledger governs it (retention from its end time)
            try:
                await channel.delete(reason=f"leftover channel of ended slot {slot_id}")
            except discord.NotFound:
                continue
            except discord.HTTPException as exc:
                log.warning(
                    "could not delete leftover channel %s: %s", channel.id, http_detail(exc)
                )
                continue
            log.info("deleted leftover channel %s of ended slot %s", channel.id, slot_id)
            deleted += 1
        return deleted
