"""The reply listener: an agent steers its slot by writing in its wake channel (DESIGN §6).

Only one kind of message counts: in a channel the ledger knows as a slot's wake
channel, written by *that slot's agent* (matched by its `discord_user_id`).
Agents are bot accounts, so bot authors are not ignored here; only the
moderator's own messages are, which is also what keeps the acknowledgements
from feeding back into this listener. Anything else changes nothing (and is
logged at DEBUG, since wake channels are private and chatter there is normal).

The first word decides (`bot.core.reply_words.parse_reply`): DONE/COMPLETE, ABORT,
PAUSE, RESUME move the slot; anything else is progress and keeps it alive.

Answers, never mentioning anyone (agents read bot messages; a mention, or an
answer that starts with a reply word, could start a reply loop):

* each state change is acknowledged, starting with an emoji so that no agent
  could read it as a reply word;
* a refused transition (say DONE on a slot that already ended) and a failure to
  record (the calendar is away) get a short explanation, at most once a minute
  per slot (on the injected clock), and every one of them is logged.

Messages of one channel are handled one at a time, in arrival order, so a quick
PAUSE then RESUME cannot be applied the other way round.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Final

import aiohttp
import discord
from discord.ext import commands

from bot.core.agents import AgentConfig
from bot.core.calendar import CalendarError, SlotNotFound, TransitionConflict
from bot.core.models import Action, Slot, SlotStatus
from bot.core.moderator import UnknownAgent
from bot.core.reply_words import parse_reply
from bot.discord_io.client import ModeratorBot
from bot.presenters.discord_embed import MESSAGE_LIMIT
from bot.presenters.formatting import one_line

log = logging.getLogger(__name__)

#: A refusal or failure is explained at most once per slot in this window.
EXPLAIN_EVERY: Final = timedelta(minutes=1)
#: Longest note quoted back in an acknowledgement.
NOTE_SHOWN: Final = 200
_NO_MENTIONS: Final = discord.AllowedMentions.none()
_USER_MESSAGES: Final = frozenset({discord.MessageType.default, discord.MessageType.reply})

_ACKS: Final = {
    SlotStatus.FINISHED: "✅ Recorded: **{title}** is finished. Nothing more is needed here.",
    SlotStatus.ABORTED: "⏹️ Recorded: **{title}** is aborted.",
    SlotStatus.PAUSED: "⏸️ Recorded: **{title}** is paused. Write `RESUME` here to carry on.",
    SlotStatus.ONGOING: "▶️ Recorded: **{title}** is ongoing again.",
}
_WORDS: Final = {
    Action.COMPLETE: "DONE",
    Action.ABORT: "ABORT",
    Action.PAUSE: "PAUSE",
    Action.RESUME: "RESUME",
}


def acknowledgement(slot: Slot, note: str | None) -> str:
    """What the moderator answers to a state change (never a reply word first, no mention)."""
    title = one_line(slot.title or slot.slot_type or slot.id, 120)
    text = _ACKS.get(slot.status, "☑️ Recorded: **{title}** is now {status}.").format(
        title=title, status=slot.status.value
    )
    if note:
        text += f"\n> {one_line(note, NOTE_SHOWN)}"
    return text


def refusal(action: Action, exc: TransitionConflict) -> str:
    """Why a reply word changed nothing, and what the agent can do instead."""
    word = _WORDS.get(action, action.value.upper())
    status = exc.slot.status if exc.slot is not None else None
    if status is None:
        return f"ℹ️ Not applied: `{word}` is not possible for this slot now ({exc.detail})."
    if status.is_final:
        hint = "it has already ended, so nothing more is needed here."
    elif status is SlotStatus.PAUSED:
        hint = "write `RESUME` to carry on, or `DONE` / `ABORT` to end it."
    elif status is SlotStatus.ONGOING:
        hint = "it is running; write `DONE` when finished, `PAUSE` to hold it."
    else:
        hint = "it has not started yet."
    return f"ℹ️ Not applied: `{word}` is not possible while the slot is {status.value}; {hint}"


class RepliesCog(commands.Cog, name="Replies"):
    def __init__(self, bot: ModeratorBot) -> None:
        self.bot = bot
        self._explained: dict[str, datetime] = {}
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
        key = message.channel.id
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
        link = await self.bot.state.link_by_channel(message.channel.id)
        if link is None:
            return  # not a wake channel
        try:
            agent = self.bot.moderator.agent(link.agent_id)
        except UnknownAgent:
            log.info(
                "message in channel %s of slot %s: agent %s is no longer configured; ignored",
                message.channel.id,
                link.slot_id,
                link.agent_id,
            )
            return
        if agent.discord_user_id is None or message.author.id != agent.discord_user_id:
            log.debug(
                "message %s by %s in %s's channel of slot %s changes nothing (not its agent)",
                message.id,
                message.author.id,
                agent.id,
                link.slot_id,
            )
            return
        if not message.content and not message.attachments and not message.embeds:
            self._warn_blank(agent, message)
        reply = parse_reply(message.content)
        if reply.action is None:
            await self._progress(message, agent, link.slot_id, reply.note)
            return
        await self._apply(message, agent, link.slot_id, reply.action, reply.note or None)

    async def _progress(
        self, message: discord.Message, agent: AgentConfig, slot_id: str, note: str
    ) -> None:
        try:
            await self.bot.moderator.record_progress(slot_id, note or None)
        except CalendarError as exc:
            # Progress only keeps the slot alive; nothing to repeat, so no answer.
            log.warning(
                "progress from %s on slot %s not recorded: %s", agent.id, slot_id, exc.detail
            )
            return
        log.debug("progress from %s on slot %s recorded", agent.id, slot_id)

    async def _apply(
        self,
        message: discord.Message,
        agent: AgentConfig,
        slot_id: str,
        action: Action,
        note: str | None,
    ) -> None:
        source = f"reply from {agent.id}"
        try:
            slot = await self.bot.moderator.apply_action(slot_id, action, note=note, source=source)
        except TransitionConflict as exc:
            log.info(
                "%s on slot %s: %s refused (%s): %s",
                source,
                slot_id,
                action.value,
                exc.code,
                exc.detail,
            )
            await self._explain(message, slot_id, refusal(action, exc))
            return
        except SlotNotFound:
            log.warning("%s: slot %s is not in the calendar any more", source, slot_id)
            await self._explain(
                message,
                slot_id,
                "ℹ️ Not applied: this channel's slot is no longer in the calendar.",
            )
            return
        except CalendarError as exc:
            log.error(
                "%s: %s on slot %s could not be recorded, the calendar failed: %s",
                source,
                action.value,
                slot_id,
                exc.detail,
            )
            await self._explain(
                message,
                slot_id,
                f"⚠️ Couldn't record `{_WORDS.get(action, action.value)}` just now: the calendar "
                "is not answering. Nothing was changed; please send it again in a few minutes.",
            )
            return
        except Exception:
            log.exception("%s: %s on slot %s failed unexpectedly", source, action.value, slot_id)
            await self._explain(
                message,
                slot_id,
                "⚠️ Couldn't record that because of an internal error (it is logged). "
                "Nothing was changed; please send it again in a few minutes.",
            )
            return
        log.info("%s: slot %s is now %s", source, slot_id, slot.status.value)
        await self._post(message.channel, acknowledgement(slot, note))

    async def _explain(self, message: discord.Message, slot_id: str, text: str) -> None:
        now = self.bot.clock.now()
        last = self._explained.get(slot_id)
        if last is not None and now - last < EXPLAIN_EVERY:
            log.info("slot %s: not explaining again within a minute: %s", slot_id, text)
            return
        self._explained[slot_id] = now
        if len(self._explained) > 1000:
            horizon = now - EXPLAIN_EVERY
            self._explained = {k: v for k, v in self._explained.items() if v >= horizon}
        await self._post(message.channel, text)

    async def _post(self, channel: discord.abc.Messageable, text: str) -> None:
        try:
            await channel.send(text[:MESSAGE_LIMIT], allowed_mentions=_NO_MENTIONS)
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("could not post an answer in channel %s: %s", _channel_id(channel), exc)

    def _warn_blank(self, agent: AgentConfig, message: discord.Message) -> None:
        if self._warned_blank:
            return
        self._warned_blank = True
        log.warning(
            "agent %s wrote in its channel %s but the message arrived without text: is the "
            "Message Content intent enabled for the moderator in the Discord developer "
            "portal? Without it replies are only seen when they mention the moderator",
            agent.id,
            message.channel.id,
        )


def _channel_id(channel: discord.abc.Messageable) -> object:
    return getattr(channel, "id", "?")


async def setup(bot: commands.Bot) -> None:
    if not isinstance(bot, ModeratorBot):
        raise TypeError("cogs.replies needs a ModeratorBot")
    await bot.add_cog(RepliesCog(bot))
