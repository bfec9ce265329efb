"""Claims and crash recovery: intent -> claim (with a claim key) -> wake -> result.

The ledger intent is written (with the version we expect and a fresh claim
key) before the claim: `start` + `expected_version` + the claim key (409:
someone else took it -> re-sync, no wake). The wake goes through the waker and
its result is recorded. A wake that fails on every waker gives the slot back
(`release`: DEFERRED, not lost) and is retried with per-agent backoff.

A claim whose answer never came (timeout, 5xx, a crash), and a claimed slot
whose wake never finished (a crash), are settled by sending the same `start`
again, same expected version and claim key: the calendar answers 200 only when
the slot is held by that very claim (landed now, or earlier and replayed), so
the slot is woken by us exactly when it is ours. Guessing from versions or
status is not enough: another moderator's claim moves the version exactly as
ours would, a late claim can land after any read, and a slot we claimed may
have been released and claimed by someone else while we were down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.core.calendar import CalendarError
from bot.core.crashpoints import crash_point
from bot.core.events import (
    AgentWoken,
    ClaimConflict,
    SlotClaimed,
    SlotReleased,
    WakeFailed,
    WakeRecovered,
)
from bot.core.models import Action, Slot
from bot.core.moves import Applied, Missing, Move, Refused
from bot.core.notes import format_duration
from bot.core.prompt import render_wake_prompt
from bot.core.state import StateError, WakeEntry
from bot.core.status import WakeInfo
from bot.core.waker import WakeResult

if TYPE_CHECKING:
    from bot.core.agent import AgentScheduler

log = logging.getLogger(__name__)

CLAIM_NOTE = "claimed by the moderator to wake the agent"


class Claims:
    def __init__(self, host: AgentScheduler) -> None:
        self._host = host
        #: Intents without a result (a crash, an unanswered claim): settled by re-sending.
        self._unresolved: dict[str, WakeEntry] = {}
        #: Claimed slots whose wake failed, to give back: version and the failure.
        self._pending_release: dict[str, tuple[int, WakeResult]] = {}
        self.last_wake: WakeInfo | None = None

    @property
    def pending(self) -> bool:
        """Half-done work waits: it is settled before any new claim."""
        return bool(self._unresolved or self._pending_release)

    def intended(self, slot_id: str) -> bool:
        """An intent of ours to wake `slot_id` is not settled yet: the slot was due and seen
        in time by the run that wrote it, so it is never taken for a misfire."""
        return slot_id in self._unresolved

    def adopt(self, entries: Iterable[WakeEntry]) -> None:
        for entry in entries:
            self._unresolved[entry.slot_id] = entry

    def forget(self, slot_id: str) -> None:
        """The slot ended: nothing of it is left to give back."""
        self._pending_release.pop(slot_id, None)

    # ---- claim and wake ---------------------------------------------------------------

    async def claim_and_wake(self, slot: Slot, now: datetime) -> None:
        host = self._host
        try:
            claim_key = await host.state.record_intent(slot.id, host.agent_id, slot.version)
        except StateError as exc:
            log.error(
                "agent %s: cannot write the wake intent, not claiming: %s", host.agent_id, exc
            )
            host.state_health.failed(exc, now)
            host.backoff.hold_for_interval(now)
            return
        host.state_health.worked()
        crash_point("after_intent")
        was_active = host.cache.active_slot()
        move = Move.of(slot, Action.START, CLAIM_NOTE, "claim", key=claim_key)
        outcome = await host.transition(move, now, check=True, claim=True)
        if isinstance(outcome, Refused):
            conflict = outcome.exc
            await host.persist(host.state.drop_intent(slot.id))
            host.publish(ClaimConflict, slot_id=slot.id, code=conflict.code, detail=conflict.detail)
            if conflict.code == "agent_busy":
                try:
                    learnt = await host.syncer.learn_current_slot()
                except CalendarError as err:
                    host.backoff.trouble(now, "current slot", err, claim=False)
                else:
                    await host.reactions.react(learnt, was_active, now)
            await host.syncer.sync(now, full=True)  # re-sync, not waking
            return
        if not isinstance(outcome, Applied):
            # The claim may or may not have happened (or happen yet): keep the intent;
            # `recover_one` re-sends it with the same claim key to find out. What this run
            # knows is enough for that when the file cannot be read back.
            try:
                entry = await host.state.wake_entry(slot.id)
            except StateError as exc:
                log.error("agent %s: %s", host.agent_id, exc)
                entry = None
            self._unresolved[slot.id] = entry or WakeEntry(
                slot.id, host.agent_id, slot.version, now, claim_key=claim_key
            )
            return
        host.backoff.claim_succeeded()
        claimed = outcome.slot
        crash_point("after_claim")
        await host.persist(host.state.record_claim(slot.id, claimed.version))
        log.info("agent %s: claimed slot %s (%s)", host.agent_id, slot.id, slot.title)
        host.publish(SlotClaimed, slot_id=slot.id, slot=claimed)
        host.stuck.restart(slot.id, now)
        # The busy heartbeat would put a calendar write between the claim and the wake;
        # it goes right after the wake instead, so a burst of wakes is not queued behind it.
        host.heartbeat_held = True
        try:
            await host.fold([claimed], outcome.was_active, now)
            await self._wake(claimed)
        finally:
            host.heartbeat_held = False
            if host.heartbeat_owed:
                host.heartbeat_owed = False
                await host.heartbeat(force=True)

    async def _wake(self, slot: Slot) -> None:
        """Wake through the waker; a failure gives the slot back and arms the retry."""
        host = self._host
        prompt = render_wake_prompt(host.config.wake_template, slot)
        try:
            result = await host.waker.wake(host.agent, slot, prompt)
        except Exception as exc:  # a waker must not raise; if it does, it is a failed wake
            log.exception("agent %s: waker raised for slot %s", host.agent_id, slot.id)
            result = WakeResult.failure(getattr(host.waker, "name", "waker"), repr(exc))
        now = host.clock.now()
        if result.ok:
            crash_point("after_message")
            await host.persist(host.state.record_result(slot.id, result))
        self.last_wake = WakeInfo(at=now, slot_id=slot.id, result=result)
        if result.ok:
            host.backoff.wake_succeeded()
            host.stuck.start(slot.id, now).reference = result.reference
            log.info(
                "agent %s: woke for slot %s via %s (%s)",
                host.agent_id,
                slot.id,
                result.via,
                result.reference or "no reference",
            )
            host.publish(
                AgentWoken,
                slot_id=slot.id,
                via=result.via,
                reference=result.reference,
                channel_id=result.channel_id,
            )
            return
        delay = host.backoff.wake_failed(now)
        log.error(
            "agent %s: could not wake for slot %s (%s); giving it back, retry in %s",
            host.agent_id,
            slot.id,
            result.error,
            format_duration(timedelta(seconds=delay)),
        )
        host.publish(WakeFailed, slot_id=slot.id, error=result.error or "failed")
        # The ledger entry stays unfinished until the slot is given back, but no
        # longer says "claimed": a crash in between is recovered through the claim
        # key, so the slot is woken again only if our claim still holds it (the
        # release did not happen), never after someone else claimed it anew.
        await host.persist(host.state.record_releasing(slot.id))
        self._pending_release[slot.id] = (slot.version, result)
        await self._release_pending(now)

    async def _release_pending(self, now: datetime) -> bool:
        """Give back claimed slots whose wake failed; False while the calendar is away."""
        host = self._host
        for slot_id, (version, failure) in list(self._pending_release.items()):
            note = f"wake failed ({failure.error}); given back to be retried"
            move = Move(slot_id, Action.RELEASE, note, "release", version=version)
            outcome = await host.transition(move, now, check=True, missing_ok=True)
            if isinstance(outcome, Applied):
                await self._finish_failed(slot_id, failure)
                host.publish(SlotReleased, slot_id=slot_id)
                await host.fold([outcome.slot], outcome.was_active, now)
            elif isinstance(outcome, Refused | Missing):
                # Someone moved it meanwhile (the agent answered, a person aborted): theirs now.
                await self._finish_failed(slot_id, failure)
            else:
                return False
        return True

    async def _finish_failed(self, slot_id: str, failure: WakeResult) -> None:
        self._pending_release.pop(slot_id, None)
        await self._host.persist(self._host.state.record_result(slot_id, failure))

    # ---- crash recovery -------------------------------------------------------------

    async def resolve(self, now: datetime) -> bool:
        """Settle half-done work; False while the calendar is away (retried with backoff)."""
        if not await self._release_pending(now):
            return False
        for slot_id, entry in list(self._unresolved.items()):
            if not await self._recover_one(entry, now):
                return False
            self._unresolved.pop(slot_id, None)
        return True

    async def _recover_one(self, entry: WakeEntry, now: datetime) -> bool:
        """An intent without a result: re-send its claim (same expected version, same key).

        Whether the ledger has the claim's 200 or not, only the calendar knows
        whose the slot is now: while we were down a person may have released it
        and another moderator claimed it (an ONGOING slot that is not ours), or
        our unanswered claim may land only now. The calendar answers a `start`
        with our claim key 200 exactly when that claim holds the slot (applied
        now, or earlier and replayed), so the answer settles it.

        200 -> ours: record the claim (if not yet) and wake (the waker finds an
        existing channel). 409 -> another claim holds it, or it moved on
        (version, status): never wake; an ended slot gets its result recorded,
        otherwise the intent is dropped and the normal flow takes the slot as it
        now is. Calendar trouble: False, the intent is kept and retried with backoff.
        """
        host = self._host
        move = Move(
            entry.slot_id,
            Action.START,
            f"{CLAIM_NOTE} (claim re-sent to settle it)",
            "recover",
            version=entry.expected_version,
            key=entry.claim_key or None,
        )
        outcome = await host.transition(move, now, check=True, claim=True, missing_ok=True)
        if isinstance(outcome, Missing):
            log.warning(
                "agent %s: recovered intent for missing slot %s", host.agent_id, entry.slot_id
            )
            await host.persist(host.state.drop_intent(entry.slot_id))
            return True
        if isinstance(outcome, Refused):
            exc, held = outcome.exc, outcome.exc.slot
            host.publish(ClaimConflict, slot_id=entry.slot_id, code=exc.code, detail=exc.detail)
            if held is not None and held.status.is_final:
                late = f"slot was already {held.status.value} at recovery; not woken again"
                await host.persist(
                    host.state.record_result(held.id, WakeResult.failure("recovery", late))
                )
            else:
                await host.persist(host.state.drop_intent(entry.slot_id))
            return True
        if not isinstance(outcome, Applied):
            return False
        host.backoff.claim_succeeded()
        slot = outcome.slot
        if entry.claimed:
            log.warning(
                "agent %s: slot %s was claimed before a restart but its wake has no result; "
                "our claim still holds it, waking again (the waker finds an existing channel)",
                host.agent_id,
                slot.id,
            )
            host.stuck.start(slot.id, entry.claimed_at or now)
        else:
            await host.persist(host.state.record_claim(slot.id, slot.version))
            log.warning(
                "agent %s: slot %s: the claim left unanswered before is ours (the calendar took "
                "or replayed its claim key); waking again (the waker finds an existing channel)",
                host.agent_id,
                slot.id,
            )
            host.stuck.start(slot.id, now)
        host.publish(WakeRecovered, slot_id=slot.id, claimed_before=entry.claimed)
        await host.fold([slot], outcome.was_active, now)
        await self._wake(slot)
        return True
