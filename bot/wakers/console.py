"""A waker that prints the wake as it would appear in Discord (the demo, tests, headless dry runs).

It behaves like the private-channel waker where it matters to the core: a
slot's "channel" is found again on a repeated wake (nothing printed twice),
and `notify` posts into it without a mention. Its words are handed in
(`bot.presenters.console.ConsoleWording`): the presenters sit above the wakers
in the layers, so this module may not import them.
"""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

from bot.core.agents import AgentConfig
from bot.core.models import Slot
from bot.core.waker import WakeResult


class ConsoleWords(Protocol):
    """What the console waker prints, worded by the console presenter."""

    def channel_name(self, agent_id: str, slot_id: str) -> str: ...

    def wake_box(self, channel: str, agent: AgentConfig, prompt: str, width: int) -> str: ...

    def moderator_line(self, channel: str, text: str) -> str: ...


class ConsoleWaker:
    name = "console"

    def __init__(
        self, stream: TextIO | None = None, *, words: ConsoleWords, width: int = 72
    ) -> None:
        self._stream = stream
        self._words = words
        self._width = width
        self._channels: dict[str, str] = {}

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def can_wake(self, agent: AgentConfig) -> bool:
        return True

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        channel = self._channels.get(slot.id)
        if channel is not None:
            return WakeResult.success(self.name, reference=channel)
        channel = self._words.channel_name(agent.id, slot.id)
        self.stream.write(self._words.wake_box(channel, agent, prompt, self._width) + "\n")
        self.stream.flush()
        self._channels[slot.id] = channel
        return WakeResult.success(self.name, reference=channel)

    async def notify(self, agent: AgentConfig, slot: Slot, text: str) -> bool:
        channel = self._channels.get(slot.id)
        if channel is None:
            return False
        self.stream.write(self._words.moderator_line(channel, text) + "\n")
        self.stream.flush()
        return True
