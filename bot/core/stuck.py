"""The stuck-slot rule: a held slot silent too long is nudged, then aborted (DESIGN §4).

The silence clock of the slot the agent holds starts at the claim (or, for a
slot we did not claim in this run, at what the ledger remembers), and restarts
on every reply or progress. At 2x the estimated duration the agent is nudged
once through the notifier; at 4x the slot is aborted with a note.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.events import SlotNudged, StuckSlotAborted
from bot.core.models import Action, Slot
from bot.core.moves import Applied, Move
from bot.core.notes import format_duration, nudge_text, stuck_abort_note
from bot.core.rules import StuckStep, overdue, stuck_deadline, stuck_verdict
from bot.core.state import StateError, WakeEntry

if TYPE_CHECKING:
    from bot.core.agent import AgentScheduler

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Activity:
    """What the stuck-slot rule knows about the slot the agent holds."""

    at: datetime
    nudged: bool = False
    reference: str | None = None


class StuckWatch:
    def __init__(self, host: AgentScheduler) -> None:
        self._host = host
        self._activity: dict[str, Activity] = {}

    # ---- tracking ---------------------------------------------------------------

    def get(self, slot_id: str) -> Activity | None:
        return self._activity.get(slot_id)

    def start(self, slot_id: str, at: datetime) -> Activity:
        """The silence clock of a slot we hold, unless it runs already."""
        return self._activity.setdefault(slot_id, Activity(at=at))

    def restart(self, slot_id: str, at: datetime) -> None:
        """A fresh claim: the silence starts now."""
        self._activity[slot_id] = Activity(at=at)

    def forget(self, slot_id: str) -> None:
        self._activity.pop(slot_id, None)

    async def adopt(self, slot: Slot, now: datetime) -> None:
        """A held slot we did not claim in this run: start its silence clock sensibly."""
        if slot.id in self._activity:
            return
        host = self._host
        entry: WakeEntry | None = None
        try:
            entry = await host.state.wake_entry(slot.id)
        except StateError as exc:
            log.error("agent %s: %s", host.agent_id, exc)
        if entry is not None and entry.activity_at is not None:
            reference = entry.result.reference if entry.result is not None else None
            self._activity[slot.id] = Activity(
                at=entry.activity_at, nudged=entry.nudged_at is not None, reference=reference
            )
        else:
            self._activity[slot.id] = Activity(at=now)

    async def touch(self, slot_id: str, now: datetime) -> None:
        """A reply or progress: the slot is alive, the silence starts again."""
        track = self._activity.get(slot_id)
        if track is None:
            self._activity[slot_id] = Activity(at=now)
        else:
            track.at = now
            track.nudged = False
        await self._host.persist(self._host.state.record_activity(slot_id, now))

    # ---- the rule ---------------------------------------------------------------

    def deadline(self, active: Slot) -> datetime | None:
        """When the held slot's silence next calls for the rule: nudge, then abort."""
        track = self._activity.get(active.id)
        if track is None:
            return None
        return stuck_deadline(track.at, track.nudged, active.estimated_duration_min)

    def overdue(self, slot: Slot, now: datetime) -> bool:
        track = self._activity.get(slot.id)
        return track is not None and overdue(track.at, slot.estimated_duration_min, now)

    async def check(self, now: datetime) -> None:
        host = self._host
        active = host.cache.active_slot()
        if active is None:
            return
        track = self.start(active.id, now)
        verdict = stuck_verdict(track.at, track.nudged, active.estimated_duration_min, now)
        if verdict.step is StuckStep.ABORT:
            note = stuck_abort_note(active, verdict.silence)
            move = Move.of(active, Action.ABORT, note, "abort stuck")
            outcome = await host.transition(move, now, check=True)
            if isinstance(outcome, Applied):
                log.warning("agent %s: slot %s %s", host.agent_id, active.id, note)
                host.publish(StuckSlotAborted, slot_id=active.id, note=note)
                await host.fold([outcome.slot], outcome.was_active, now)
        elif verdict.step is StuckStep.NUDGE:
            track.nudged = True
            await host.persist(host.state.record_nudge(active.id))
            posted = False
            if host.notifier is not None:
                try:
                    posted = await host.notifier.notify(
                        host.agent, active, nudge_text(active, verdict.silence)
                    )
                except Exception:
                    log.exception("agent %s: nudge for %s raised", host.agent_id, active.id)
            log.log(
                logging.INFO if posted else logging.WARNING,
                "agent %s: slot %s silent for %s: nudge %s",
                host.agent_id,
                active.id,
                format_duration(verdict.silence),
                "posted" if posted else "could not be posted",
            )
            host.publish(SlotNudged, slot_id=active.id, posted=posted)
