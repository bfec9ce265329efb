"""The reply listener: Discord's side of an agent steering its slot (DESIGN §6).

Thin glue. Only messages in a channel the ledger knows as a slot's wake channel
go on, with their author's Discord id, to the shared reply path
(`bot.core.reply_handling.ReplyHandler`), which decides what the words do and
whether they get an answer; the answer's words come from
`bot.presenters.reply_answers`, the same the demo prints. Agents are bot
accounts, so bot authors are not ignored here; only the moderator's own
messages are, which is also what keeps the acknowledgements from feeding back
into this listener.

With `SHARD` set, only channels of this shard's agents are answered (another
shard's ledger may know the same channel after a reconfiguration).

A thread started in a wake channel is part of it: what the agent writes there
counts as written in the channel (agent runtimes and people answer in threads),
and is answered in the thread, or in the channel where Discord refuses that.

Messages of one channel (its threads' with them) are handled one at a time, in
arrival order, so a quick PAUSE then RESUME cannot be applied the other way round.

Discord does not replay to a new gateway session what was said before it: a start,
or a RESUME refused after an outage, would lose an agent's DONE written meanwhile.
So at each READY the words written in every running slot's channel (and its threads)
since our last message there are read back and handled in order. Our last message is the mark:
every state change is acknowledged, so what comes after it was not applied.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import discord
from discord.ext import commands

from bot.core.reply_handling import (
    HandlingFailed,
    NotTheAgent,
    ProgressNotRecorded,
    ProgressRecorded,
    ReplyAuthor,
    ReplyHandler,
    ReplyOutcome,
)
from bot.discord_io.client import ModeratorBot
from bot.net import TRANSIENT_NETWORK_ERRORS
from bot.presenters.reply_answers import answer_text

log = logging.getLogger(__name__)

_NO_MENTIONS: Final = discord.AllowedMentions.none()
_USER_MESSAGES: Final = frozenset({discord.MessageType.default, discord.MessageType.reply})
_POST_ERRORS: tuple[type[BaseException], ...] = (discord.HTTPException, *TRANSIENT_NETWORK_ERRORS)


class RepliesCog(commands.Cog, name="Replies"):
    def __init__(self, bot: ModeratorBot) -> None:
        self.bot = bot
        self.replies = ReplyHandler(bot.moderator)
        self._channel_locks: dict[int, tuple[asyncio.Lock, int]] = {}
        self._warned_blank = False

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None or message.guild.id != self.bot.guild_id:
            return
        me = self.bot.user
        if me is not None and message.author.id == me.id:
            return  # our own acknowledgements and wake messages
        if message.type not in _USER_MESSAGES:
            return
        await self._in_turn(message)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """A new session: read back what the agents said while there was none."""
        for link in await self.bot.state.all_links():
            if link.ended_at is not None or not self.bot.handles_agent(link.agent_id):
                continue
            channel = self.bot.get_channel(link.channel_id)
            if not isinstance(channel, discord.TextChannel):
                continue
            missed: list[discord.Message] = []
            ours = 0  # our newest message in the channel or any of its threads
            places: list[discord.TextChannel | discord.Thread] = [channel, *channel.threads]
            for place in places:
                try:
                    since, mark = await self._since_our_last(place)
                except _POST_ERRORS as exc:
                    log.warning("could not read back channel %s: %s", place.id, exc)
                    continue
                missed += since
                ours = max(ours, mark)
            # An answer may stand in the channel for words written in a thread (Discord
            # refused the thread): what came before our newest message anywhere was seen.
            missed = sorted((m for m in missed if m.id > ours), key=lambda m: m.id)
            if missed:
                log.info(
                    "channel %s of slot %s: %d message(s) written while disconnected",
                    channel.id,
                    link.slot_id,
                    len(missed),
                )
            for message in missed:
                await self._in_turn(message)

    async def _since_our_last(
        self, channel: discord.TextChannel | discord.Thread
    ) -> tuple[list[discord.Message], int]:
        """The others' messages after our newest one there (of the newest 50), and that
        one's id (0: none of the 50 is ours)."""
        me = self.bot.user
        found: list[discord.Message] = []
        async for message in channel.history(limit=50):
            if me is not None and message.author.id == me.id:
                return found, message.id
            if message.type in _USER_MESSAGES:
                found.append(message)
        return found, 0

    async def _in_turn(self, message: discord.Message) -> None:
        """Handle `message` after the channel's earlier ones (one at a time per channel)."""
        key = _wake_channel_id(message)
        lock, users = self._channel_locks.get(key, (asyncio.Lock(), 0))
        self._channel_locks[key] = (lock, users + 1)
        try:
            async with lock:
                await self._handle(message)
        except Exception:
            log.exception("reply %s in channel %s could not be handled", message.id, key)
        finally:
            lock, users = self._channel_locks[key]
            if users <= 1:
                del self._channel_locks[key]
            else:
                self._channel_locks[key] = (lock, users - 1)

    async def _handle(self, message: discord.Message) -> None:
        channel_id = _wake_channel_id(message)
        link = await self.bot.state.link_by_channel(channel_id)
        waker = self.bot.channel_waker
        if link is None and waker is not None:  # a running slot's channel made by another shard
            channel = self.bot.get_channel(channel_id)
            link = await waker.adopt(channel, self.bot.moderator.slot_owner)
        if link is None or not self.bot.handles_agent(link.agent_id):
            return  # not a wake channel, or one of another shard's agents
        author = ReplyAuthor(discord_user_id=message.author.id)
        outcome: ReplyOutcome
        try:
            outcome = await self.replies.handle(
                link.agent_id, link.slot_id, author, message.content
            )
        except Exception:
            log.exception(
                "reply %s on slot %s failed unexpectedly; nothing was changed",
                message.id,
                link.slot_id,
            )
            outcome = HandlingFailed(link.slot_id)
        if isinstance(outcome, NotTheAgent):
            log.debug("message %s by %s changes nothing", message.id, message.author.id)
        is_progress = isinstance(outcome, ProgressRecorded | ProgressNotRecorded)
        if is_progress and not (message.content or message.attachments or message.embeds):
            self._warn_blank(link.agent_id, message)
        text = answer_text(outcome)
        if text is not None and self.replies.should_answer(outcome):
            await self._answer(message.channel, text)

    async def _answer(self, channel: discord.abc.Messageable, text: str) -> None:
        """In the thread the words came from; in its wake channel when that fails (the
        moderator may lack Send Messages in Threads)."""
        if await self._post(channel, text) or not isinstance(channel, discord.Thread):
            return
        if isinstance(channel.parent, discord.TextChannel):
            await self._post(channel.parent, text)

    async def _post(self, channel: discord.abc.Messageable, text: str) -> bool:
        """Whether it was posted; a refusal or no answer from Discord is logged."""
        try:
            await channel.send(text, allowed_mentions=_NO_MENTIONS)
        except _POST_ERRORS as exc:
            log.warning("could not post an answer in channel %s: %s", _channel_id(channel), exc)
            return False
        return True

    def _warn_blank(self, agent_id: str, message: discord.Message) -> None:
        if self._warned_blank:
            return
        self._warned_blank = True
        log.warning(
            "agent %s wrote in its channel %s but the message arrived without text: is the "
            "Message Content intent enabled for the moderator in the Discord developer "
            "portal? Without it replies are only seen when they mention the moderator",
            agent_id,
            message.channel.id,
        )


def _channel_id(channel: discord.abc.Messageable) -> object:
    return getattr(channel, "id", "?")


def _wake_channel_id(message: discord.Message) -> int:
    """The channel a message counts as written in: a thread's parent, else its own."""
    channel = message.channel
    return channel.parent_id if isinstance(channel, discord.Thread) else channel.id


async def setup(bot: commands.Bot) -> None:
    if not isinstance(bot, ModeratorBot):
        raise TypeError("cogs.replies needs a ModeratorBot")
    await bot.add_cog(RepliesCog(bot))
