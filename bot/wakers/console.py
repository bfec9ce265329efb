"""A waker that prints the wake as it would appear in Discord (the demo, tests, headless dry runs).

It behaves like the private-channel waker where it matters to the core: a
slot's "channel" is found again on a repeated wake (nothing printed twice),
and `notify` posts into it without a mention.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot.core.agents import AgentConfig
from bot.core.models import Slot
from bot.core.reply_words import REPLY_HELP
from bot.core.waker import WakeResult


def console_channel(agent_id: str, slot_id: str) -> str:
    return f"#{agent_id}-{slot_id[:8]}".lower()


class ConsoleWaker:
    name = "console"

    def __init__(self, stream: TextIO | None = None, *, width: int = 72) -> None:
        self._stream = stream
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
        channel = console_channel(agent.id, slot.id)
        mention = f"<@{agent.discord_user_id}>" if agent.discord_user_id else f"@{agent.id}"
        rule = "─" * max(0, self._width - len(channel) - 4)
        lines = [
            f"── {channel} {rule}",
            f"(private: {agent.id} and the moderator)",
            f"{mention}",
            prompt,
            "",
            REPLY_HELP,
            "─" * self._width,
        ]
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._channels[slot.id] = channel
        return WakeResult.success(self.name, reference=channel)

    async def notify(self, agent: AgentConfig, slot: Slot, text: str) -> bool:
        channel = self._channels.get(slot.id)
        if channel is None:
            return False
        self.stream.write(f"[{channel}] moderator: {text}\n")
        self.stream.flush()
        return True
