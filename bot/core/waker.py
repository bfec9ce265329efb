"""What a waker is: something that makes an agent start work on a slot.

The scheduler only sees `Waker`; the private-channel waker, the spawn wakers and
the console waker all fit it, and `WakerChain` tries them in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.core.agents import AgentConfig
from bot.core.models import Slot


@dataclass(frozen=True, slots=True)
class WakeResult:
    """`ok` with `via` naming the waker that worked; `reference` is e.g. a channel id.

    `channel_id` is set only by a wake that went to a Discord channel, so listeners
    (buttons on the wake message) decide from a typed field, not from names.
    """

    ok: bool
    via: str
    reference: str | None = None
    error: str | None = None
    attempts: tuple[str, ...] = field(default_factory=tuple)
    channel_id: int | None = None

    @classmethod
    def success(
        cls, via: str, reference: str | None = None, *, channel_id: int | None = None
    ) -> WakeResult:
        return cls(ok=True, via=via, reference=reference, channel_id=channel_id)

    @classmethod
    def failure(cls, via: str, error: str) -> WakeResult:
        return cls(ok=False, via=via, error=error)


class Waker(Protocol):
    """Wake `agent` for `slot` with the rendered `prompt`.

    Must be idempotent per slot where the medium allows it (a slot's channel is
    found again, never made twice) and must not raise for expected failures:
    it answers a failed `WakeResult` with a human-readable `error` instead.
    """

    name: str

    def can_wake(self, agent: AgentConfig) -> bool:
        """Whether this waker is configured for this agent at all."""
        ...

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult: ...


@runtime_checkable
class SlotNotifier(Protocol):
    """Posts a follow-up (e.g. the stuck-slot nudge) where a slot was woken.

    The text goes into the slot's existing wake channel *without* mentioning the
    agent (agents read bot messages; a mention would start reply loops). Answers
    False when there is no such place (never woken there, channel gone); it must
    not raise for that.
    """

    async def notify(self, agent: AgentConfig, slot: Slot, text: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class ChannelLink:
    """A slot's wake channel as the ledger knows it."""

    slot_id: str
    agent_id: str
    channel_id: int
    message_id: int | None = None
    ended_at: datetime | None = None


class ChannelLedger(Protocol):
    """The part of the persisted state the private-channel waker needs.

    The link is written *before* the wake message is posted (an agent may answer
    within milliseconds), and the message id after, so a restart can tell
    "channel made, message not yet posted" from "fully woken".
    """

    async def channel_link(self, slot_id: str) -> ChannelLink | None: ...

    async def link_by_channel(self, channel_id: int) -> ChannelLink | None:
        """Which slot a channel belongs to (the reply listener asks this)."""
        ...

    async def save_channel(self, slot_id: str, agent_id: str, channel_id: int) -> None: ...

    async def save_message(self, slot_id: str, message_id: int) -> None: ...

    async def mark_ended(self, slot_id: str, at: datetime) -> None:
        """The slot reached FINISHED/ABORTED: its channel may go after the retention."""
        ...

    async def ended_links(self, before: datetime) -> list[ChannelLink]:
        """Links whose slot ended before `before`, oldest first."""
        ...

    async def all_links(self) -> list[ChannelLink]: ...

    async def forget_channel(self, slot_id: str) -> None:
        """The channel was deleted: drop the link (the ledger's wake record stays)."""
        ...
