"""The calls of a store that is the local copy of another calendar (CalDAV, DESIGN §10).

The other calendar decides: a claim is won there (a conditional PUT) before it
is written here. So a change is first *tried* here, in a transaction that is
always rolled back, which gives exactly the embedded store's checks, refusals
and resulting slot without keeping anything; the caller then writes that
result to the other calendar and, once it is accepted, copies the event back
(`mirror_batch`) as it copies every change found by polling.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

import aiosqlite

from bot.calendar.ics.outcome import ImportOutcome
from bot.calendar.store.edits import apply_edit, checked_edit
from bot.calendar.store.import_calls import ImportCalls
from bot.calendar.store.imports import ImportedSeries, ImportedSlot, import_all
from bot.calendar.store.in_thread import Step
from bot.calendar.store.mirrored import listed_ids, retire
from bot.calendar.store.occurrences import materialise
from bot.calendar.store.rows import to_us
from bot.calendar.store.series_calls import create_step, edit_step
from bot.calendar.store.transitions import TransitionCall, TransitionOutcome, apply_transition
from bot.core.models import Series, SeriesCreate, SeriesEdit, Slot, SlotCreate, SlotEdit
from bot.core.validation import check_known_agent, check_local_years, check_new_slot

T = TypeVar("T")


class _Tried(Exception, Generic[T]):
    """Carries a trial's answer out of its transaction, which rolls it back."""

    def __init__(self, answer: T) -> None:
        super().__init__("trial")
        self.answer = answer


class MirrorCalls(ImportCalls):
    """`mirror_batch`, `mirrored_ids` and the trials, on `EmbeddedCalendar`'s connection (the
    connection, lock, clock and agents are declared by `ImportCalls`)."""

    def _owner(self, named: str | None, acting: str | None) -> str:
        raise NotImplementedError

    async def mirror_batch(
        self,
        agent_id: str,
        series: Sequence[ImportedSeries],
        slots: Sequence[ImportedSlot],
        *,
        gone: Iterable[str] = (),
        history_before: datetime,
    ) -> ImportOutcome:
        """Copy events kept by the other calendar, in one transaction: as `import_batch`, with
        their states, what was due before `history_before` as history; the ids of `gone`
        (events deleted there) are retired."""
        check_known_agent(agent_id, self._agents)
        now = self._clock.now()
        async with self._write() as db:
            outcome = await import_all(
                db,
                agent_id,
                series,
                slots,
                now=now,
                tz=self._tz,
                history_before=history_before,
                follow_rules=True,
            )
            outcome.updated += await retire(db, agent_id, gone, now_us=to_us(now), tz=self._tz)
            return outcome

    async def mirrored_ids(self, agent_id: str, listed_at: datetime) -> set[str]:
        """The ids a full listing of the agent's events begun at `listed_at` must name again
        (`listed_ids`)."""
        async with self._write() as db:
            return await listed_ids(db, agent_id, to_us(listed_at))

    async def _trial(self, step: Step[T]) -> T:
        """What `step` answers inside a write transaction that is then rolled back."""
        try:
            async with self._write() as db:
                raise _Tried(await step(db))
        except _Tried as tried:
            answer: T = tried.answer
            return answer

    def transition_step(self, call: TransitionCall) -> Step[TransitionOutcome]:
        """`call` as one write step (for `EmbeddedCalendar.apply` and the trial alike)."""
        if call.until is not None:
            check_local_years(call.until, self._tz, "until")
        now = to_us(self._clock.now())

        async def step(db: aiosqlite.Connection) -> TransitionOutcome:
            await materialise(db, call.slot_id, call.agent_id, now_us=now, tz=self._tz)
            return await apply_transition(db, call, now_us=now, tz=self._tz)

        return step

    def edit_step(self, slot_id: str, edit: SlotEdit, agent_id: str | None) -> Step[Slot]:
        """An edit as one write step (for `EmbeddedCalendar.edit_slot` and the trial alike)."""
        edit = checked_edit(edit, self._tz)
        now = to_us(self._clock.now())

        async def step(db: aiosqlite.Connection) -> Slot:
            await materialise(db, slot_id, agent_id, now_us=now, tz=self._tz)
            return await apply_edit(db, slot_id, edit, agent_id=agent_id, now_us=now, tz=self._tz)

        return step

    async def trial_transition(self, call: TransitionCall) -> TransitionOutcome:
        """What `call` would answer now, refusals raised as the store raises them; nothing kept."""
        return await self._trial(self.transition_step(call))

    async def trial_edit(self, slot_id: str, edit: SlotEdit, agent_id: str | None) -> Slot:
        """The slot as `edit` would leave it (refusals raised as the store raises them)."""
        return await self._trial(self.edit_step(slot_id, edit, agent_id))

    def checked_new_slot(self, new: SlotCreate, agent_id: str | None) -> tuple[str, SlotCreate]:
        """(owner, the slot as it would be created), refused as `create_slot` refuses it."""
        owner = self._owner(new.agent_id, agent_id)
        return owner, check_new_slot(new, tz=self._tz, now=self._clock.now(), known=self._agents)

    async def trial_series(self, new: SeriesCreate, agent_id: str | None) -> tuple[str, Series]:
        """(owner, the series as `create_series` would make it); kept: nothing."""
        owner = self._owner(new.agent_id, agent_id)
        return owner, await self._trial(create_step(new, owner, self._tz, self._clock.now()))

    async def trial_series_edit(
        self, series_id: str, edit: SeriesEdit, agent_id: str | None
    ) -> Series:
        """The series as `edit_series` would leave it; kept: nothing."""
        return await self._trial(edit_step(series_id, edit, agent_id, self._tz, self._clock.now()))
