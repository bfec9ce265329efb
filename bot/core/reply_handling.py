"""An agent's message in its wake channel, from text to what changed (DESIGN §6), said once.

The Discord listener and the demo's simulated agents both come here, so an
agent's reply is read, applied and judged the same way whichever surface it
arrived on; each outcome is a typed value, and the words for it live in
`bot.presenters.reply_answers`. The surface only knows which slot the channel
belongs to and who wrote the message.

Only the slot's own agent steers it. The first word decides
(`bot.core.reply_words.parse_reply`): DONE/COMPLETE, ABORT, PAUSE, RESUME move
the slot; anything else is progress and keeps it alive. A state change is
always answered; a refusal or a failure to record is explained at most once a
minute per slot (on the moderator's clock), so an agent repeating itself does
not start a conversation with the moderator. Every outcome is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from bot.core.agents import AgentConfig, UnknownAgent
from bot.core.calendar import CalendarError, SlotNotFound, TransitionConflict
from bot.core.models import Action, Slot
from bot.core.moderator import Moderator
from bot.core.reply_words import parse_reply

log = logging.getLogger(__name__)

#: A refusal or failure is explained at most once per slot in this window.
EXPLAIN_EVERY: Final = timedelta(minutes=1)
#: Past this many remembered explanations the old ones are forgotten.
_EXPLAINED_KEPT: Final = 1000


@dataclass(frozen=True, slots=True)
class ReplyAuthor:
    """Who wrote the message, as far as the surface can tell (a Discord user, or a demo agent)."""

    agent_id: str | None = None
    discord_user_id: int | None = None

    def is_agent(self, agent: AgentConfig) -> bool:
        if self.discord_user_id is not None and agent.discord_user_id == self.discord_user_id:
            return True
        return self.agent_id is not None and self.agent_id == agent.id


@dataclass(frozen=True, slots=True)
class AboutSlot:
    """An outcome about the slot whose channel the message was in: answers are rationed per slot."""

    slot_id: str


@dataclass(frozen=True, slots=True)
class Ignored(AboutSlot):
    """A message that changes nothing and is not answered; `agent_id` is the channel's agent."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentNotConfigured(Ignored):
    """The channel's agent is no longer in the configuration: the message changes nothing."""


@dataclass(frozen=True, slots=True)
class NotTheAgent(Ignored):
    """Someone other than the slot's agent wrote in its channel: chatter, changes nothing."""


@dataclass(frozen=True, slots=True)
class ProgressRecorded(AboutSlot):
    """Not a reply word: the slot is alive. `held` is False when the agent no longer holds it."""

    note: str
    held: bool


@dataclass(frozen=True, slots=True)
class ProgressNotRecorded(AboutSlot):
    """Progress the calendar could not take; nothing to repeat, so nobody is told."""

    detail: str


@dataclass(frozen=True, slots=True)
class ReplyApplied:
    """A reply word moved the slot; `slot` is the slot as it is now."""

    action: Action
    slot: Slot
    note: str | None


@dataclass(frozen=True, slots=True)
class NotApplied(AboutSlot):
    """A reply word (`action`) that did not move the slot; the agent is told why."""

    action: Action


@dataclass(frozen=True, slots=True)
class ReplyRefused(NotApplied):
    """The calendar refused the transition; the conflict says why (and the slot as it is)."""

    conflict: TransitionConflict


@dataclass(frozen=True, slots=True)
class SlotGone(NotApplied):
    """The channel's slot is no longer in the calendar."""


@dataclass(frozen=True, slots=True)
class CalendarFailed(NotApplied):
    """The calendar did not answer; nothing changed and the agent may send the word again."""

    detail: str


@dataclass(frozen=True, slots=True)
class HandlingFailed(AboutSlot):
    """Our own bug while handling the reply (logged where it was caught); nothing changed."""


ReplyOutcome = (
    AgentNotConfigured
    | NotTheAgent
    | ProgressRecorded
    | ProgressNotRecorded
    | ReplyApplied
    | ReplyRefused
    | SlotGone
    | CalendarFailed
    | HandlingFailed
)
#: Outcomes that are explained to the agent, at most once a minute per slot.
EXPLAINED: Final = (NotApplied, HandlingFailed)


class ReplyHandler:
    """Reads and applies an agent's replies, and decides which outcomes get an answer."""

    def __init__(self, moderator: Moderator) -> None:
        self._moderator = moderator
        self._explained: dict[str, datetime] = {}

    async def handle(
        self, agent_id: str, slot_id: str, author: ReplyAuthor, text: str
    ) -> ReplyOutcome:
        """What `text`, written by `author` in the wake channel of `agent_id`'s slot, did."""
        try:
            agent = self._moderator.agent(agent_id)
        except UnknownAgent:
            log.info(
                "message about slot %s: agent %s is no longer configured; ignored",
                slot_id,
                agent_id,
            )
            return AgentNotConfigured(slot_id, agent_id)
        if not author.is_agent(agent):
            log.debug("message in %s's channel of slot %s is not its agent's", agent_id, slot_id)
            return NotTheAgent(slot_id, agent_id)
        reply = parse_reply(text)
        if reply.action is None:
            return await self._progress(agent_id, slot_id, reply.note)
        return await self._apply(agent_id, slot_id, reply.action, reply.note or None)

    async def _progress(self, agent_id: str, slot_id: str, note: str) -> ReplyOutcome:
        try:
            held = await self._moderator.record_progress(slot_id, note or None)
        except CalendarError as exc:
            log.warning(
                "progress from %s on slot %s not recorded: %s", agent_id, slot_id, exc.detail
            )
            return ProgressNotRecorded(slot_id, exc.detail)
        log.debug("progress from %s on slot %s recorded", agent_id, slot_id)
        return ProgressRecorded(slot_id, note, held)

    async def _apply(
        self, agent_id: str, slot_id: str, action: Action, note: str | None
    ) -> ReplyOutcome:
        source = f"reply from {agent_id}"
        try:
            slot = await self._moderator.apply_action(slot_id, action, note=note, source=source)
        except TransitionConflict as exc:
            log.info(
                "%s on slot %s: %s refused (%s): %s",
                source,
                slot_id,
                action.value,
                exc.code,
                exc.detail,
            )
            return ReplyRefused(slot_id, action, exc)
        except SlotNotFound:
            log.warning("%s: slot %s is not in the calendar any more", source, slot_id)
            return SlotGone(slot_id, action)
        except CalendarError as exc:
            log.error(
                "%s: %s on slot %s could not be recorded, the calendar failed: %s",
                source,
                action.value,
                slot_id,
                exc.detail,
            )
            return CalendarFailed(slot_id, action, exc.detail)
        log.info("%s: slot %s is now %s", source, slot_id, slot.status.value)
        return ReplyApplied(action, slot, note)

    def should_answer(self, outcome: ReplyOutcome) -> bool:
        """Whether the agent is told about `outcome`; a True for an explanation counts it as given.

        State changes are always acknowledged; progress and other people's
        messages never are; explanations at most once a minute per slot.
        """
        if isinstance(outcome, ReplyApplied):
            return True
        if not isinstance(outcome, EXPLAINED):
            return False
        now = self._moderator.clock.now()
        last = self._explained.get(outcome.slot_id)
        if last is not None and now - last < EXPLAIN_EVERY:
            log.info(
                "slot %s: not explaining again within a minute: %s",
                outcome.slot_id,
                type(outcome).__name__,
            )
            return False
        self._explained[outcome.slot_id] = now
        if len(self._explained) > _EXPLAINED_KEPT:
            horizon = now - EXPLAIN_EVERY
            self._explained = {k: v for k, v in self._explained.items() if v >= horizon}
        return True
