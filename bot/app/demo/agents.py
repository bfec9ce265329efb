"""The stand-ins for Discord and the agents: delivery of wakes, and replies through the bot's path.

A simulated agent's message goes through the same `ReplyHandler` a Discord
reply does, and the moderator's answer printed in the channel is the same text
the bot would post (`bot.presenters.reply_answers`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.app.demo.plan import Step
from bot.app.demo.story import SlotRecord, Story
from bot.core.agents import AgentConfig
from bot.core.clock import Clock
from bot.core.models import Action, Slot
from bot.core.moderator import Moderator
from bot.core.reply_handling import (
    ProgressNotRecorded,
    ProgressRecorded,
    ReplyApplied,
    ReplyAuthor,
    ReplyHandler,
)
from bot.core.waker import WakeResult
from bot.presenters.console import MODERATOR, channel_line, console_channel, progress_aside
from bot.presenters.reply_answers import answer_text
from bot.wakers.console import ConsoleWaker

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Wake:
    """A wake message as the agent receives it."""

    slot_id: str
    channel: str


class DeliveringWaker:
    """The console waker, plus delivery to the simulated agent (Discord's part of a wake).

    A real agent receives the wake message the moment it is posted, possibly
    before the moderator has recorded the wake; delivering from inside `wake`
    keeps that race in the demo instead of hiding it.
    """

    name = "console"

    def __init__(
        self,
        console: ConsoleWaker,
        inboxes: dict[str, asyncio.Queue[Wake]],
        channels: dict[str, tuple[str, str]],
    ) -> None:
        self._console = console
        self._inboxes = inboxes
        self._channels = channels
        self._delivered: set[str] = set()

    def can_wake(self, agent: AgentConfig) -> bool:
        return self._console.can_wake(agent)

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        result = await self._console.wake(agent, slot, prompt)
        if result.ok and result.reference:
            self._channels[result.reference] = (agent.id, slot.id)
        inbox = self._inboxes.get(agent.id)
        if result.ok and inbox is not None and slot.id not in self._delivered:
            # a repeated wake finds the same channel and posts nothing: nothing to deliver
            self._delivered.add(slot.id)
            channel = result.reference or console_channel(agent.id, slot.id)
            inbox.put_nowait(Wake(slot.id, channel))
        return result

    async def notify(self, agent: AgentConfig, slot: Slot, text: str) -> bool:
        return await self._console.notify(agent, slot, text)


class DemoReplies:
    """The demo's side of the reply listener: a message in a channel, then the shared path.

    The channel ledger is `channels` (channel -> agent, slot id), written by the
    waker as it wakes; the outcome also feeds the summary (notes, pauses).
    """

    def __init__(
        self,
        moderator: Moderator,
        story: Story,
        records: dict[str, SlotRecord],
        channels: dict[str, tuple[str, str]],
    ) -> None:
        self._replies = ReplyHandler(moderator)
        self._story = story
        self._records = records
        self._channels = channels

    async def post(self, channel: str, author: str, text: str) -> None:
        self._story.say(channel_line(channel, author, text))
        owner = self._channels.get(channel)
        if owner is None:
            return  # not a wake channel: changes nothing
        agent_id, slot_id = owner
        outcome = await self._replies.handle(agent_id, slot_id, ReplyAuthor(agent_id=author), text)
        record = self._records.get(slot_id)
        if isinstance(outcome, ReplyApplied) and record is not None:
            if outcome.slot.status.is_final:
                record.note = outcome.note
            if outcome.action is Action.PAUSE:
                record.pauses += 1
        if isinstance(outcome, ProgressRecorded | ProgressNotRecorded):
            self._story.say(progress_aside(channel))
        answer = answer_text(outcome)
        if answer is not None and self._replies.should_answer(outcome):
            self._story.say(channel_line(channel, MODERATOR, answer))


class SimulatedAgent:
    """An agent bot: reads each wake, "works", posts its scripted replies; done when all are."""

    def __init__(
        self,
        agent_id: str,
        scripts: dict[str, tuple[Step, ...]],
        desk: DemoReplies,
        clock: Clock,
    ) -> None:
        self.agent_id = agent_id
        self.inbox: asyncio.Queue[Wake] = asyncio.Queue()
        self._scripts = dict(scripts)
        self._desk = desk
        self._clock = clock

    async def run(self) -> None:
        while self._scripts:
            wake = await self.inbox.get()
            script = self._scripts.pop(wake.slot_id, None)
            if script is None:
                log.info("agent %s: no script for slot %s", self.agent_id, wake.slot_id)
                continue
            for step in script:
                await self._clock.sleep(step.after_s)
                await self._desk.post(wake.channel, self.agent_id, step.text)
