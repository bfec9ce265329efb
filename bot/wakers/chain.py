"""The fallback chain: try each waker in order until one wakes the agent (DESIGN §4, §5).

Discord first, then the spawn callbacks: a waker not configured for an agent
(`can_wake` False) is skipped, every failure is logged with its cause, and the
result names the waker that worked and lists every attempt so `/status` and
the logs can tell "Discord refused, spawn worked" from "nothing could wake".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from bot.core.agents import AgentConfig
from bot.core.models import Slot
from bot.core.waker import SlotNotifier, Waker, WakeResult

log = logging.getLogger(__name__)


class WakerChain:
    """A `Waker` made of wakers; also a `SlotNotifier` through the first that can post."""

    name = "chain"

    def __init__(self, wakers: Sequence[Waker], *, timeout_s: float | None = None) -> None:
        if not wakers:
            raise ValueError("a waker chain needs at least one waker")
        self.wakers: tuple[Waker, ...] = tuple(wakers)
        #: A bound (real seconds) on one waker's attempt, so a hung medium cannot stall the chain.
        self.timeout_s = timeout_s

    def can_wake(self, agent: AgentConfig) -> bool:
        return any(w.can_wake(agent) for w in self.wakers)

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        attempts: list[str] = []
        for waker in self.wakers:
            if not waker.can_wake(agent):
                attempts.append(f"{waker.name}: not configured for {agent.id}")
                continue
            result = await self._try(waker, agent, slot, prompt)
            if result.ok:
                attempts.append(f"{waker.name}: ok")
                if len(attempts) > 1:
                    log.info(
                        "slot %s (agent %s) woken by %s after: %s",
                        slot.id,
                        agent.id,
                        waker.name,
                        "; ".join(attempts[:-1]),
                    )
                return WakeResult(
                    ok=True,
                    via=waker.name,
                    reference=result.reference,
                    attempts=tuple(attempts),
                    channel_id=result.channel_id,
                )
            attempts.append(f"{waker.name}: {result.error or 'failed'}")
            log.warning(
                "waker %s could not wake agent %s for slot %s: %s",
                waker.name,
                agent.id,
                slot.id,
                result.error or "failed without a reason",
            )
        tried = [a for a in attempts if "not configured" not in a]
        error = (
            "every waker failed: " + "; ".join(tried)
            if tried
            else f"no waker is configured for agent {agent.id}"
        )
        return WakeResult(ok=False, via=self.name, error=error, attempts=tuple(attempts))

    async def _try(self, waker: Waker, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        try:
            if self.timeout_s is None:
                return await waker.wake(agent, slot, prompt)
            async with asyncio.timeout(self.timeout_s):
                return await waker.wake(agent, slot, prompt)
        except TimeoutError:
            return WakeResult.failure(waker.name, f"no answer within {self.timeout_s:g} s")
        except Exception as exc:  # a waker broke its contract; the chain goes on
            log.exception("waker %s raised while waking slot %s", waker.name, slot.id)
            return WakeResult.failure(waker.name, f"{type(exc).__name__}: {exc}")

    async def notify(self, agent: AgentConfig, slot: Slot, text: str) -> bool:
        """Post through the first notifier-capable waker that has a place for the slot."""
        for waker in self.wakers:
            if not isinstance(waker, SlotNotifier) or not waker.can_wake(agent):
                continue
            try:
                if await waker.notify(agent, slot, text):
                    return True
            except Exception:
                log.exception("waker %s raised while notifying slot %s", waker.name, slot.id)
        return False
