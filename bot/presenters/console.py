"""The console surface: what the console waker and the demo print where Discord would post.

A wake is drawn as a box named like the private channel it stands for, and
every message in such a "channel" is one `[#channel] author: text` line, so
the moderator's answers read exactly as the bot posts them (their words come
from `bot.presenters.reply_answers`, like the Discord listener's).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from bot.core.agents import AgentConfig
from bot.core.reply_words import REPLY_HELP

#: The author name the moderator's own messages carry in a console channel.
MODERATOR: Final = "moderator"


class ConsoleWording:
    """The console waker's words, handed to `bot.wakers.console.ConsoleWaker` (which may not
    import presenters: they sit above the wakers in the layers)."""

    @staticmethod
    def channel_name(agent_id: str, slot_id: str) -> str:
        return console_channel(agent_id, slot_id)

    @staticmethod
    def wake_box(channel: str, agent: AgentConfig, prompt: str, width: int) -> str:
        return wake_box(channel, agent, prompt, width)

    @staticmethod
    def moderator_line(channel: str, text: str) -> str:
        return channel_line(channel, MODERATOR, text)


def console_channel(agent_id: str, slot_id: str) -> str:
    """The private channel's name as the console shows it: `#scout-1a2b3c4d`."""
    return f"#{agent_id}-{slot_id[:8]}".lower()


def wake_box(channel: str, agent: AgentConfig, prompt: str, width: int = 72) -> str:
    """The wake message as the agent sees it in its channel: mention, prompt, how to reply."""
    mention = f"<@{agent.discord_user_id}>" if agent.discord_user_id else f"@{agent.id}"
    rule = "─" * max(0, width - len(channel) - 4)
    lines = [
        f"── {channel} {rule}",
        f"(private: {agent.id} and the moderator)",
        mention,
        prompt,
        "",
        REPLY_HELP,
        "─" * width,
    ]
    return "\n".join(lines)


def channel_line(channel: str, author: str, text: str) -> str:
    """One message in a console channel, e.g. the moderator's acknowledgement."""
    return f"[{channel}] {author}: {text}"


def progress_aside(channel: str) -> str:
    """The demo's aside for progress, which the moderator does not answer."""
    return f"[{channel}] (moderator reads this as progress; the slot stays open)"


def format_lateness(late: timedelta) -> str:
    """How late a wake was, to the millisecond: the demo shows the timer's precision."""
    ms = late.total_seconds() * 1000
    if abs(ms) < 1000:
        return f"{ms:+.0f} ms"
    return f"{ms / 1000:+.2f} s"
