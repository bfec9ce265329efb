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

Rate limits are discord.py's job: it waits out a 429 and retries by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import discord

from bot.core.agents import AgentConfig
from bot.core.clock import Clock, SystemClock
from bot.core.crashpoints import crash_point
from bot.core.models import Slot
from bot.core.reply_words import REPLY_HELP
from bot.core.waker import ChannelLedger, ChannelLink, WakeResult

log = logging.getLogger(__name__)

CATEGORY_CHANNEL_LIMIT = 50
MESSAGE_LIMIT = 2000
TOPIC_LIMIT = 1024
TOPIC_MARK = "slot-id: "
SLOT_PREFIX_LEN = 12

#: Discord error codes this waker explains.
MAX_GUILD_CHANNELS = 30013
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
UNKNOWN_CHANNEL = 10003


class WakeError(Exception):
    """A wake step failed for a reason a person can act on; the text says which."""


# ---- names, topics, messages --------------------------------------------------


def channel_name(agent_id: str, slot_id: str) -> str:
    """`<agent>-<slot id prefix>`, lowercase and valid as a Discord channel name.

    Only a label for people: two slots may get the same name, the topic decides.
    """
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", slot_id.lower()).strip("-_")
    prefix = cleaned[:SLOT_PREFIX_LEN].strip("-_") or "slot"
    return f"{agent_id}-{prefix}"[:100]


def channel_topic(slot: Slot) -> str:
    """The slot's title and, last, its full id: the channel's identity."""
    mark = f"{TOPIC_MARK}{slot.id}"
    title = " ".join((slot.title or slot.slot_type).split())
    room = TOPIC_LIMIT - len(mark) - 3
    if room <= 0:
        return mark
    if len(title) > room:
        title = title[: room - 1] + "…"
    return f"{title} · {mark}" if title else mark


def topic_slot_id(topic: str | None) -> str | None:
    """The full slot id a wake channel's topic names (None for any other channel)."""
    if not topic:
        return None
    _, sep, tail = topic.rpartition(TOPIC_MARK)
    slot_id = tail.strip()
    return slot_id if sep and slot_id else None


def wake_marker(slot_id: str) -> str:
    """The line that identifies our wake message in a channel's history."""
    return f"-# {TOPIC_MARK}{slot_id}"


def wake_messages(user_id: int, slot: Slot, prompt: str) -> list[str]:
    """The wake message, split only when the prompt does not fit one Discord message.

    The first message is *the* wake message: it mentions the agent and carries
    the slot marker (so a restart can find it). The reply help closes the last.
    """
    mention = f"<@{user_id}>"
    marker = wake_marker(slot.id)
    tail = f"\n\n{REPLY_HELP}\n{marker}"
    single = f"{mention}\n{prompt}{tail}"
    if len(single) <= MESSAGE_LIMIT:
        return [single]
    first_frame = f"{mention}\n", f"\n\n*(continued below)*\n{marker}"
    head_room = MESSAGE_LIMIT - len(first_frame[0]) - len(first_frame[1])
    first, rest = _cut(prompt, head_room)
    messages = [first_frame[0] + first + first_frame[1]]
    tail_help = f"\n\n{REPLY_HELP}"
    while rest:
        if len(rest) + len(tail_help) <= MESSAGE_LIMIT:
            messages.append(rest + tail_help)
            return messages
        part, rest = _cut(rest, MESSAGE_LIMIT)
        messages.append(part)
    messages.append(REPLY_HELP)
    return messages


def _cut(text: str, limit: int) -> tuple[str, str]:
    """Split `text` at a line break (or a space) before `limit` when there is one."""
    if len(text) <= limit:
        return text, ""
    cut = text.rfind("\n", limit // 2, limit)
    if cut < 0:
        cut = text.rfind(" ", limit // 2, limit)
    if cut < 0:
        cut = limit
    return text[:cut], text[cut:].lstrip("\n")


def _perm_names(names: Iterable[str]) -> str:
    return ", ".join(name.replace("_", " ").title() for name in names)


def _is_category_full(exc: discord.HTTPException) -> bool:
    """Discord's answer for a 51st channel in a category (a form error on parent_id)."""
    text = str(exc.text)
    return exc.status == 400 and (
        "CHANNEL_PARENT_MAX_CHANNELS" in text or "channels in category" in text.lower()
    )


def http_detail(exc: discord.HTTPException) -> str:
    """Discord's refusal on one line: status, error code and the (shortened) body."""
    text = " ".join(str(exc.text).split())[:300]
    return f"HTTP {exc.status}, Discord code {exc.code}: {text}" if text else f"HTTP {exc.status}"


#: Failures of the connection itself (Discord never answered), as opposed to an HTTP refusal.
_UNREACHABLE = (aiohttp.ClientError, OSError, TimeoutError)


def _failure(exc: BaseException) -> str:
    """Why a Discord call failed, for the log: Discord's answer, or the kind of network error."""
    return http_detail(exc) if isinstance(exc, discord.HTTPException) else type(exc).__name__


# ---- the waker ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Listing:
    """The guild's channels as one snapshot: what a placement decision looks at."""

    channels: Sequence[discord.abc.GuildChannel]

    def by_id(self) -> dict[int, discord.abc.GuildChannel]:
        return {ch.id: ch for ch in self.channels}


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
    ) -> None:
        self._client = client
        self._guild_id = guild_id
        self._ledger = ledger
        self._category_name = category_name
        self._admin_role_id = admin_role_id
        self._retention = timedelta(seconds=retention_s)
        self._clock = clock or SystemClock()
        self._guild_refresh = timedelta(seconds=guild_refresh_s)
        self._fetched_guild: discord.Guild | None = None
        self._fetched_at: datetime | None = None
        self._placement_lock = asyncio.Lock()
        self._slot_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._warned_admin_role = False

    # ---- Waker ----------------------------------------------------------

    def can_wake(self, agent: AgentConfig) -> bool:
        return agent.discord_user_id is not None

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        if agent.discord_user_id is None:
            return WakeResult.failure(self.name, f"agent {agent.id} has no discord_user_id")
        try:
            async with self._slot_lock(slot.id):
                channel_id = await self._wake(agent, agent.discord_user_id, slot, prompt)
        except WakeError as exc:
            log.warning("discord wake of slot %s (agent %s) failed: %s", slot.id, agent.id, exc)
            return WakeResult.failure(self.name, str(exc))
        except discord.HTTPException as exc:
            error = f"Discord refused a call while waking slot {slot.id}: {http_detail(exc)}"
            log.warning("%s", error)
            return WakeResult.failure(self.name, error)
        except _UNREACHABLE as exc:
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
        target = self._client.get_partial_messageable(link.channel_id, guild_id=self._guild_id)
        try:
            for part in _chunks(text, MESSAGE_LIMIT):
                await target.send(part, allowed_mentions=discord.AllowedMentions.none())
        except (discord.HTTPException, *_UNREACHABLE) as exc:
            log.warning(
                "notice for slot %s not posted in channel %s: %s",
                slot.id,
                link.channel_id,
                _failure(exc),
            )
            return False
        return True

    # ---- the wake, step by step -----------------------------------------

    async def _wake(self, agent: AgentConfig, user_id: int, slot: Slot, prompt: str) -> int:
        link = await self._ledger.channel_link(slot.id)
        if link is not None and link.message_id is not None:
            log.info(
                "slot %s already woken in channel %s (message %s); not posting again",
                slot.id,
                link.channel_id,
                link.message_id,
            )
            return link.channel_id
        guild = await self._guild()
        fresh = False
        channel_id: int | None = None
        if link is not None:
            channel_id = await self._existing_channel(link)
        if channel_id is None:
            # One find-or-create at a time: a placement decision must see the
            # channels the previous one made (category counts, topics).
            async with self._placement_lock:
                listing = await self._listing(guild)
                found = self._find_by_topic(listing, slot.id)
                if found is not None:
                    log.info("found channel %s of slot %s again by its topic", found.id, slot.id)
                    channel_id = found.id
                else:
                    channel_id = await self._create_channel(guild, listing, agent, user_id, slot)
                    fresh = True
                # Saved before the message: an agent may answer within milliseconds.
                await self._ledger.save_channel(slot.id, agent.id, channel_id)
                crash_point("after_channel")
        if not fresh:
            posted = await self._our_wake_message(channel_id, slot.id)
            if posted is not None:
                log.info(
                    "wake message of slot %s already in channel %s; not posting again",
                    slot.id,
                    channel_id,
                )
                await self._ledger.save_message(slot.id, posted)
                return channel_id
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
            channel = await self._channel(link.channel_id)
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

    async def _our_wake_message(self, channel_id: int, slot_id: str) -> int | None:
        """Our wake message for this slot in the channel, if a crashed run posted it."""
        me = self._me_id()
        marker = wake_marker(slot_id)
        target = self._client.get_partial_messageable(channel_id, guild_id=self._guild_id)
        try:
            async for message in target.history(limit=50, oldest_first=True):
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
        target = self._client.get_partial_messageable(channel_id, guild_id=self._guild_id)
        only_agent = discord.AllowedMentions(
            everyone=False, users=[discord.Object(id=user_id)], roles=False, replied_user=False
        )
        parts = wake_messages(user_id, slot, prompt)
        try:
            first = await target.send(parts[0], allowed_mentions=only_agent)
        except discord.Forbidden as exc:
            raise WakeError(
                f"cannot post in channel {channel_id} of slot {slot.id}: "
                f"missing {await self._missing_in_channel(channel_id)} "
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
            except (discord.HTTPException, *_UNREACHABLE) as exc:
                # The agent was woken; the rest of a very long prompt is lost. Say so.
                log.error(
                    "slot %s: the wake message was posted but a continuation was not (%s)",
                    slot.id,
                    exc,
                )
                break
        return first.id

    # ---- guild, channels, categories ------------------------------------

    async def _guild(self) -> discord.Guild:
        cached = self._client.get_guild(self._guild_id)
        if cached is not None and not cached.unavailable:
            return cached
        now = self._clock.now()
        if (
            self._fetched_guild is None
            or self._fetched_at is None
            or now - self._fetched_at > self._guild_refresh
        ):
            try:
                self._fetched_guild = await self._client.fetch_guild(
                    self._guild_id, with_counts=False
                )
            except (discord.NotFound, discord.Forbidden):
                raise WakeError(
                    f"the moderator is not a member of guild {self._guild_id} "
                    "(check DISCORD_GUILD_ID and invite the bot)"
                ) from None
            self._fetched_at = now
        return self._fetched_guild

    def _from_cache(self, guild: discord.Guild) -> bool:
        return self._client.get_guild(guild.id) is guild

    async def _channel(
        self, channel_id: int
    ) -> discord.abc.GuildChannel | discord.abc.PrivateChannel | discord.Thread:
        """From the gateway cache when it has the channel, else over REST."""
        return self._client.get_channel(channel_id) or await self._client.fetch_channel(channel_id)

    async def _me_member(self, guild: discord.Guild) -> discord.Member:
        """The moderator as a member of `guild` (fetched when the guild is not the cached one)."""
        member = guild.me if self._from_cache(guild) else None
        return member if member is not None else await guild.fetch_member(self._me_id())

    async def _listing(self, guild: discord.Guild) -> _Listing:
        if self._from_cache(guild):
            return _Listing(list(guild.channels))
        return _Listing(list(await guild.fetch_channels()))

    def _me_id(self) -> int:
        user = self._client.user
        if user is None:
            raise WakeError("the Discord client is not logged in")
        return user.id

    def _category_index(self, name: str) -> int | None:
        """1 for the wake category, k for its overflow `<name>-k`, None for others."""
        base = self._category_name.casefold()
        folded = name.casefold()
        if folded == base:
            return 1
        if folded.startswith(base + "-"):
            suffix = folded[len(base) + 1 :]
            if suffix.isdigit() and int(suffix) >= 2:
                return int(suffix)
        return None

    def _our_categories(self, listing: _Listing) -> list[discord.CategoryChannel]:
        ours = [
            ch
            for ch in listing.channels
            if isinstance(ch, discord.CategoryChannel) and self._category_index(ch.name)
        ]
        return sorted(ours, key=lambda c: (self._category_index(c.name) or 0, c.id))

    def _find_by_topic(self, listing: _Listing, slot_id: str) -> discord.TextChannel | None:
        """The slot's channel among our categories' channels, by the FULL id in the topic."""
        ours = {c.id for c in self._our_categories(listing)}
        matches = [
            ch
            for ch in listing.channels
            if isinstance(ch, discord.TextChannel)
            and ch.category_id in ours
            and topic_slot_id(ch.topic) == slot_id
        ]
        if len(matches) > 1:
            log.warning(
                "slot %s has %d channels (%s); using the oldest",
                slot_id,
                len(matches),
                ", ".join(str(c.id) for c in matches),
            )
        return min(matches, key=lambda c: c.id) if matches else None

    def _overwrites(
        self, guild: discord.Guild, *, agent_user_id: int | None
    ) -> dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite]:
        everyone = guild.default_role
        if everyone is None:  # a guild object without its roles: never expected
            raise WakeError(f"guild {guild.id} came without its @everyone role")
        # @everyone must be the Role itself: a discord.Object would be sent as a
        # *member* overwrite and the channel would not be private.
        overwrites: dict[
            discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite
        ] = {
            everyone: discord.PermissionOverwrite(view_channel=False),
            discord.Object(id=self._me_id()): discord.PermissionOverwrite(
                view_channel=True, send_messages=True, manage_channels=True
            ),
        }
        if agent_user_id is not None:
            overwrites[discord.Object(id=agent_user_id)] = discord.PermissionOverwrite(
                view_channel=True, send_messages=True, read_message_history=True
            )
        if self._admin_role_id is not None:
            role = guild.get_role(self._admin_role_id)
            if role is not None:
                overwrites[role] = discord.PermissionOverwrite(
                    view_channel=True, send_messages=True
                )
            elif not self._warned_admin_role:
                self._warned_admin_role = True
                log.warning(
                    "ADMIN_ROLE_ID %s is not a role of guild %s; wake channels are made without it",
                    self._admin_role_id,
                    guild.id,
                )
        return overwrites

    async def _create_channel(
        self,
        guild: discord.Guild,
        listing: _Listing,
        agent: AgentConfig,
        user_id: int,
        slot: Slot,
    ) -> int:
        """Make the slot's channel; the caller holds the placement lock."""
        name = channel_name(agent.id, slot.id)
        full: set[int] = set()
        while True:
            category = await self._category_with_room(guild, listing, full)
            try:
                channel = await guild.create_text_channel(
                    name,
                    category=category,
                    topic=channel_topic(slot),
                    overwrites=self._overwrites(guild, agent_user_id=user_id),
                    reason=f"wake agent {agent.id} for slot {slot.id}",
                )
            except discord.Forbidden as exc:
                raise WakeError(
                    await self._forbidden_text(guild, f"create channel #{name}", exc)
                ) from None
            except discord.HTTPException as exc:
                if exc.code == MAX_GUILD_CHANNELS:
                    raise WakeError(self._guild_full_text(guild, slot.id)) from None
                if _is_category_full(exc) and category.id not in full:
                    # Our count was stale (someone else added channels): count it full.
                    log.info("Discord says category %s is full; placing again", category.id)
                    full.add(category.id)
                    continue
                raise
            break
        log.info(
            "made channel %s (#%s) in category %s for slot %s",
            channel.id,
            name,
            category.name,
            slot.id,
        )
        return channel.id

    async def _category_with_room(
        self, guild: discord.Guild, listing: _Listing, full: Collection[int] = ()
    ) -> discord.CategoryChannel:
        """A wake category with fewer than 50 channels, making room if needed.

        Order: the first of our categories with room; else delete the oldest
        ENDED wake channel in one of them (early, before its retention); else
        open the next overflow category.
        """
        categories = self._our_categories(listing)
        counts = {c.id: 0 for c in categories}
        for ch in listing.channels:
            if ch.category_id in counts:
                counts[ch.category_id] += 1
        for category in categories:
            if category.id not in full and counts[category.id] < CATEGORY_CHANNEL_LIMIT:
                return category
        if categories:
            freed = await self._free_one(listing, set(counts))
            if freed is not None:
                return next(c for c in categories if c.id == freed)
        return await self._create_category(guild, categories)

    async def _free_one(self, listing: _Listing, category_ids: set[int]) -> int | None:
        """Delete the oldest ended wake channel in our categories; its category's id."""
        channels = listing.by_id()
        for link in await self._ledger.ended_links(self._clock.now()):
            channel = channels.get(link.channel_id)
            if channel is None or channel.category_id not in category_ids:
                continue
            if await self._delete_channel(link, reason="wake category full"):
                log.info(
                    "category full: deleted channel %s of ended slot %s before its retention",
                    link.channel_id,
                    link.slot_id,
                )
                return channel.category_id
        return None

    async def _create_category(
        self, guild: discord.Guild, existing: Sequence[discord.CategoryChannel]
    ) -> discord.CategoryChannel:
        taken = {self._category_index(c.name) for c in existing}
        index = 1
        while index in taken:
            index += 1
        name = self._category_name if index == 1 else f"{self._category_name}-{index}"
        try:
            category = await guild.create_category(
                name,
                overwrites=self._overwrites(guild, agent_user_id=None),
                reason="wake channels for agents"
                + ("" if index == 1 else f" (the first {index - 1} categories are full)"),
            )
        except discord.Forbidden as exc:
            raise WakeError(
                await self._forbidden_text(guild, f"create category {name!r}", exc)
            ) from None
        except discord.HTTPException as exc:
            if exc.code == MAX_GUILD_CHANNELS:
                raise WakeError(self._guild_full_text(guild, None)) from None
            raise
        log.info("made wake category %s (%s)", category.id, name)
        return category

    def _guild_full_text(self, guild: discord.Guild, slot_id: str | None) -> str:
        what = f"the channel of slot {slot_id}" if slot_id else "a wake category"
        return (
            f"guild {guild.id} has reached Discord's limit of 500 channels "
            f"(error {MAX_GUILD_CHANNELS}), so {what} could not be made; delete unused "
            "channels (ended wake channels go after CHANNEL_RETENTION_S)"
        )

    async def _forbidden_text(
        self, guild: discord.Guild, action: str, exc: discord.Forbidden
    ) -> str:
        """Name the guild permissions the moderator lacks, when it can find out."""
        needed = ("manage_channels", "view_channel", "send_messages", "read_message_history")
        lacking: list[str] = []
        with contextlib.suppress(discord.HTTPException, aiohttp.ClientError, OSError):
            perms = (await self._me_member(guild)).guild_permissions
            lacking = [name for name in needed if not getattr(perms, name)]
        if lacking:
            return (
                f"cannot {action}: the moderator is missing {_perm_names(lacking)} "
                f"in guild {guild.id} ({http_detail(exc)})"
            )
        return (
            f"cannot {action}: Discord answered Missing Permissions; the moderator needs "
            f"Manage Channels in guild {guild.id} and must itself hold every permission it "
            f"grants ({_perm_names(needed[1:])}); check the wake category's overwrites too "
            f"({http_detail(exc)})"
        )

    async def _missing_in_channel(self, channel_id: int) -> str:
        """Which of View Channel / Send Messages the moderator lacks in a channel."""
        with contextlib.suppress(discord.HTTPException, aiohttp.ClientError, OSError):
            guild = await self._guild()
            channel = await self._client.fetch_channel(channel_id)
            member = await self._me_member(guild)
            if isinstance(channel, discord.abc.GuildChannel):
                perms = channel.permissions_for(member)
                lacking = [n for n in ("view_channel", "send_messages") if not getattr(perms, n)]
                if lacking:
                    return _perm_names(lacking)
        return "View Channel or Send Messages"

    # ---- lifecycle --------------------------------------------------------

    async def cleanup(self, now: datetime, *, final_slot_ids: Collection[str] = ()) -> int:
        """Delete wake channels no longer needed; how many were deleted.

        Only two kinds go: channels the ledger knows ended more than
        `CHANNEL_RETENTION_S` before `now`, and (for start-up) channels in our
        wake categories that the ledger does not know and whose topic names a
        slot the caller reports as final in `final_slot_ids`. Nothing else is
        touched, whatever its name.
        """
        deleted = 0
        for link in await self._ledger.ended_links(now - self._retention):
            if await self._delete_channel(link, reason="slot ended, retention passed"):
                deleted += 1
        if final_slot_ids:
            deleted += await self._delete_orphans(set(final_slot_ids))
        if deleted:
            log.info("cleanup deleted %d wake channel(s)", deleted)
        return deleted

    async def _delete_orphans(self, final_slot_ids: set[str]) -> int:
        guild = await self._guild()
        listing = await self._listing(guild)
        ours = {c.id for c in self._our_categories(listing)}
        deleted = 0
        for channel in listing.channels:
            if not isinstance(channel, discord.TextChannel) or channel.category_id not in ours:
                continue
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

    async def _delete_channel(self, link: ChannelLink, *, reason: str) -> bool:
        """Delete a linked channel and forget the link; True when it is gone now."""
        try:
            channel = await self._channel(link.channel_id)
            if isinstance(channel, discord.abc.GuildChannel):
                await channel.delete(reason=f"{reason} (slot {link.slot_id})")
        except discord.NotFound:
            pass  # already gone: forgetting it is all that is left
        except (discord.HTTPException, *_UNREACHABLE) as exc:
            log.warning(
                "could not delete channel %s of slot %s: %s",
                link.channel_id,
                link.slot_id,
                _failure(exc),
            )
            return False
        await self._ledger.forget_channel(link.slot_id)
        return True

    # ---- small helpers ------------------------------------------------------

    def _slot_lock(self, slot_id: str) -> _KeyedLock:
        return _KeyedLock(self._slot_locks, slot_id)


class _KeyedLock:
    """One asyncio lock per key, dropped when its last user leaves."""

    def __init__(self, table: dict[str, tuple[asyncio.Lock, int]], key: str) -> None:
        self._table = table
        self._key = key

    async def __aenter__(self) -> None:
        lock, users = self._table.get(self._key, (asyncio.Lock(), 0))
        self._table[self._key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._table[self._key][0].release()
        self._leave()

    def _leave(self) -> None:
        lock, users = self._table[self._key]
        if users <= 1:
            del self._table[self._key]
        else:
            self._table[self._key] = (lock, users - 1)


def _chunks(text: str, limit: int) -> list[str]:
    parts: list[str] = []
    rest = text
    while rest:
        part, rest = _cut(rest, limit)
        parts.append(part)
    return parts
