"""The consequences of a change learnt about a slot, whatever its source.

A sync, a transition's answer and a heartbeat all end here (`react`):

* a NOT_STARTED slot first seen later than `MISFIRE_GRACE_S` is aborted with a
  note, not woken (after the other consequences of the same change); one a previous
  run meant to claim (its intent in the ledger, settled by the first check) was seen
  in time;
* an ended slot's channel is marked ended in the state store before `SlotEnded`
  is published (a listener may rely on it), and what we tracked of it is
  forgotten; a slot first seen already ended is ours to tidy only if we made
  it a channel;
* a held slot we did not claim in this run starts its silence clock;
* a busy<->idle change heartbeats at once, before the check that follows, and
  on idle clears the session deferrals and asks for a check at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.cache import SlotChange
from bot.core.events import SlotEnded, SlotMisfired
from bot.core.models import Action, Slot, SlotStatus
from bot.core.moves import Applied, Move, Trouble
from bot.core.notes import misfire_note
from bot.core.rules import misfired
from bot.core.state import StateError

if TYPE_CHECKING:
    from bot.core.agent import AgentScheduler

log = logging.getLogger(__name__)


class Reactions:
    def __init__(self, host: AgentScheduler) -> None:
        self._host = host

    async def react(
        self, changes: Sequence[SlotChange], was_active: Slot | None, now: datetime
    ) -> None:
        """Apply the consequences of slot changes, whatever their source."""
        host = self._host
        if changes:
            host.timer.changed()
        misfires: list[Slot] = []
        for change in changes:
            slot = change.slot
            if (
                change.before is None
                and change.after is not None
                and misfired(change.after, now, host.config.misfire_grace_s)
                and not host.claims.intended(slot.id)
            ):
                misfires.append(change.after)
            if change.ended:
                if change.before is None and not await self._missed_end(slot):
                    continue  # ended before we ever knew it: nothing of ours to tidy
                await self._slot_ended(slot, now)
            elif change.after is not None and change.after.status.is_active:
                await host.stuck.adopt(slot, now)
        now_active = host.cache.active_slot()
        if (was_active is None) != (now_active is None) or (
            was_active is not None and now_active is not None and was_active.id != now_active.id
        ):
            if host.heartbeat_held:
                host.heartbeat_owed = True
            else:
                await host.heartbeat(force=True)
            if now_active is None:
                if host.deferred:
                    await host.clear_deferrals()
                host.check_soon = True
        for slot in misfires:
            await self._misfire(slot, now)

    async def _missed_end(self, slot: Slot) -> bool:
        """A slot first seen already ended: ours to tidy only if we made it a channel."""
        host = self._host
        try:
            link = await host.state.channel_link(slot.id)
        except StateError as exc:
            log.error("agent %s: %s", host.agent_id, exc)
            return False
        return link is not None and link.ended_at is None

    async def _slot_ended(self, slot: Slot, now: datetime) -> None:
        host = self._host
        host.stuck.forget(slot.id)
        host.deferred.discard(slot.id)
        host.claims.forget(slot.id)
        await host.persist(host.state.mark_ended(slot.id, now))
        if host.cache.day is not None and host.cache.day_of(slot) < host.cache.day:
            host.cache.remove(slot.id)  # a carried slot is written off once it ends
        log.info("agent %s: slot %s ended %s", host.agent_id, slot.id, slot.status.value)
        host.publish(SlotEnded, slot_id=slot.id, slot=slot)

    async def _misfire(self, slot: Slot, now: datetime) -> None:
        host = self._host
        current = host.cache.get(slot.id)
        if current is None or current.status is not SlotStatus.NOT_STARTED:
            return
        note = misfire_note(current, now, host.tz, host.config.misfire_grace_s)
        outcome = await host.transition(Move.of(current, Action.ABORT, note, "misfire abort"), now)
        if isinstance(outcome, Trouble):
            log.warning(
                "agent %s: slot %s misfired but could not be aborted (%s); it will be "
                "aborted at the next sync",
                host.agent_id,
                current.id,
                outcome.exc.detail,
            )
            host.cache.remove(current.id)  # seen again as new at the next sync
        elif isinstance(outcome, Applied):
            log.warning("agent %s: slot %s %s", host.agent_id, current.id, note)
            host.publish(SlotMisfired, slot_id=current.id, note=note)
            await host.fold([outcome.slot], outcome.was_active, now)
