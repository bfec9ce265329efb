"""One recording `Waker` double for the core's tests, the fault tests and the benchmarks.

It plays an idempotent medium: a slot's "channel" is found again, never made
twice (like Discord's channels, the `World` outlives a moderator restart when
passed to the next waker). It records every call with its time, and can fail
the first `failures` calls (None: every call), as a medium that is down would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.agents import AgentConfig
from bot.core.clock import Clock
from bot.core.models import Slot, SlotStatus
from bot.core.waker import WakeResult


@dataclass
class World:
    """What the wake medium remembers across moderator restarts (like Discord's channels)."""

    channels: dict[str, str] = field(default_factory=dict)
    deliveries: list[tuple[str, datetime, str]] = field(default_factory=list)
    notices: list[tuple[str, str]] = field(default_factory=list)

    def delivered(self) -> list[str]:
        return [slot_id for slot_id, _, _ in self.deliveries]

    def times(self) -> dict[str, datetime]:
        return {slot_id: at for slot_id, at, _ in self.deliveries}


class RecordingWaker:
    """A `Waker` that records each call; `name` tells moderators (or chain links) apart.

    `failures`: 0 never fails, n fails the first n calls, None fails every call.
    A wake for a slot that is not ONGOING (not claimed) or with an empty prompt is a
    bug in the caller and fails loudly.
    """

    def __init__(
        self,
        clock: Clock,
        world: World | None = None,
        *,
        name: str = "recording",
        failures: int | None = 0,
        on_wake: Callable[[AgentConfig, Slot], Awaitable[None]] | None = None,
    ) -> None:
        self.clock = clock
        self.world = world or World()
        self.name = name
        self.failures = failures
        self.on_wake = on_wake
        #: every call, failed or not: (slot id, when)
        self.attempts: list[tuple[str, datetime]] = []

    @property
    def calls(self) -> list[str]:
        """The slot ids of every call, in order."""
        return [slot_id for slot_id, _ in self.attempts]

    @property
    def wakes(self) -> Counter[str]:
        """Calls per slot id."""
        return Counter(self.calls)

    def can_wake(self, agent: AgentConfig) -> bool:
        return True

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        self.attempts.append((slot.id, self.clock.now()))
        assert slot.status is SlotStatus.ONGOING, f"woken for {slot.id} in {slot.status}"
        assert prompt, "an empty wake prompt"
        if self.failures is None or self.failures > 0:
            if self.failures is not None:
                self.failures -= 1
            return WakeResult.failure(self.name, "the medium is down")
        existing = self.world.channels.get(slot.id)
        if existing is not None:
            return WakeResult.success(self.name, reference=existing)
        reference = f"chan-{slot.id}"
        self.world.channels[slot.id] = reference
        self.world.deliveries.append((slot.id, self.clock.now(), prompt))
        if self.on_wake is not None:
            await self.on_wake(agent, slot)
        return WakeResult.success(self.name, reference=reference)

    async def notify(self, agent: AgentConfig, slot: Slot, text: str) -> bool:
        if slot.id not in self.world.channels:
            return False
        self.world.notices.append((slot.id, text))
        return True
