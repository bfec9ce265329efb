"""The wake message an agent gets in its private channel, and how a long text is cut.

The words are the prompt (made by the core from the wake template), the
agent's mention and the reply help; what this module adds is Discord's shape:
2,000 characters a message, the mention and the slot marker in the *first*
message (the one that wakes the agent, and the one a restart looks for), the
reply help closing the last.
"""

from __future__ import annotations

from bot.core.models import Slot
from bot.core.reply_words import REPLY_HELP
from bot.presenters.discord_embed import MESSAGE_LIMIT

#: What names a slot in a wake channel's topic and in its wake message's last line.
TOPIC_MARK = "slot-id: "
CONTINUED = "\n\n*(continued below)*\n"


def wake_marker(slot_id: str) -> str:
    """The line that identifies our wake message in a channel's history."""
    return f"-# {TOPIC_MARK}{slot_id}"


def claim_marker(slot: Slot) -> str:
    """The wake marker with the version the slot was woken at: a wake repeated for the same
    claim (after a crash) finds it, a later claim of the slot (released, edited) does not."""
    return f"{wake_marker(slot.id)} · v{slot.version}"


def marked_slot_id(content: str | None) -> str | None:
    """The slot id a wake message names in its marker line (`wake_marker`, maybe with the
    version `claim_marker` adds), or None: what a reader of the channel (a benchmark, a
    tool) uses instead of knowing the marker's layout."""
    mark = wake_marker("")
    for line in (content or "").splitlines():
        if line.startswith(mark):
            found = line[len(mark) :].split(" · v", 1)[0].strip()
            return found or None
    return None


def woken_again(prompt: str) -> str:
    """The prompt posted in a channel that already holds an older wake of the slot (DESIGN §4:
    a released slot's channel gets the update before it is woken again)."""
    return f"*Woken again for this slot; its prompt as it is now:*\n{prompt}"


def wake_messages(user_id: int, slot: Slot, prompt: str) -> list[str]:
    """The wake message, split only when the prompt does not fit one Discord message.

    The first message is *the* wake message: it mentions the agent and carries
    the slot marker (so a restart can find it). The reply help closes the last.
    """
    mention = f"<@{user_id}>"
    marker = claim_marker(slot)
    single = f"{mention}\n{prompt}\n\n{REPLY_HELP}\n{marker}"
    if len(single) <= MESSAGE_LIMIT:
        return [single]
    head, tail = f"{mention}\n", f"{CONTINUED}{marker}"
    first, rest = cut_at_break(prompt, MESSAGE_LIMIT - len(head) - len(tail))
    messages = [head + first + tail]
    tail_help = f"\n\n{REPLY_HELP}"
    while rest:
        if len(rest) + len(tail_help) <= MESSAGE_LIMIT:
            messages.append(rest + tail_help)
            return messages
        part, rest = cut_at_break(rest, MESSAGE_LIMIT)
        messages.append(part)
    messages.append(REPLY_HELP)
    return messages


def cut_at_break(text: str, limit: int) -> tuple[str, str]:
    """Split `text` at a line break (or a space) before `limit` when there is one."""
    if len(text) <= limit:
        return text, ""
    cut = text.rfind("\n", limit // 2, limit)
    if cut < 0:
        cut = text.rfind(" ", limit // 2, limit)
    if cut < 0:
        cut = limit
    return text[:cut], text[cut:].lstrip("\n")


def message_parts(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` as Discord messages of at most `limit` characters, cut at breaks."""
    parts: list[str] = []
    rest = text
    while rest:
        part, rest = cut_at_break(rest, limit)
        parts.append(part)
    return parts
