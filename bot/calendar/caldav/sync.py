"""Keeping the moderator's copy in step with the CalDAV collections (DESIGN §10 "Changes").

Every `CALDAV_POLL_S` each agent's collection is asked what changed since its
sync token (RFC 6578), or listed whole where the server keeps no token; each
changed resource is copied into the local store in a transaction of its own,
so one unreadable event costs only itself (skipped, logged with its UID and
why). A resource the moderator itself wrote after a poll began is left to the
next poll, which names it again: a poll's older view never undoes a claim.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.calendar.caldav.dav import Collection, CollectionGone, DavClient, Resource
from bot.calendar.caldav.ledger import CollectionMark, Ledger
from bot.calendar.caldav.mapping import ObjectPlan, plan_object
from bot.calendar.store.embedded import EmbeddedCalendar
from bot.calendar.store.imports import ImportedSlot
from bot.core.calendar import CalendarError
from bot.core.clock import Clock

log = logging.getLogger(__name__)


class CalendarCopy:
    """The collections of the agents, what each resource holds, and how to copy it locally."""

    def __init__(
        self, dav: DavClient, mirror: EmbeddedCalendar, ledger: Ledger, clock: Clock
    ) -> None:
        self.dav = dav
        self.mirror = mirror
        self.ledger = ledger
        self._clock = clock
        #: The latest text and ETag of every resource, by href.
        self.objects: dict[str, Resource] = {}
        #: A series' or single slot's id -> (agent, href of its resource).
        self.where: dict[str, tuple[str, str]] = {}
        self._plans: dict[str, ObjectPlan] = {}
        #: Counts the moderator's own writes; `written[href]` is the count at its last one.
        self.generation = 0
        self.written: dict[str, int] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        #: Per agent, the sync token of its last poll in this process. An agent not in it
        #: is listed whole first: `objects`, `where` and `_plans` are rebuilt in each
        #: process, and a token of an earlier run would name only what changed since, so
        #: an event unchanged since could be neither claimed nor retired when deleted.
        self.tokens: dict[str, str | None] = {}

    def now(self) -> datetime:
        return self._clock.now()

    @property
    def zone(self) -> ZoneInfo:
        return self.mirror.timezone

    def lock(self, agent_id: str) -> asyncio.Lock:
        """One write or copy at a time per agent, so a claim and a poll never interleave."""
        return self.locks.setdefault(agent_id, asyncio.Lock())

    async def attach(self, agents: Iterable[str] | None) -> list[str]:
        """Find (or make) each agent's collection: its path segment or display name is the id;
        `agents` None takes every collection there is. Answers the agents attached."""
        found = await self.dav.collections()
        if agents is None:
            agents = [collection.segment for collection in found]
        now = self._clock.now()
        for agent_id in agents:
            found_one = self._collection_of(agent_id, found)
            if found_one is None:
                collection = await self.dav.make_collection(agent_id, agent_id)
                log.info("CalDAV: made the calendar %s for agent %s", collection.href, agent_id)
            else:
                collection = found_one
            mark = self.ledger.marks.get(agent_id)
            if mark is None or mark.href != collection.href:
                self.ledger.marks[agent_id] = CollectionMark(collection.href, now.isoformat())
        self.ledger.save()
        return list(agents)

    def _collection_of(self, agent_id: str, found: list[Collection]) -> Collection | None:
        """The agent's calendar: the one it had in earlier runs while it is there, else the
        one named by its path segment, else by its display name. A second calendar that
        takes the agent's name never takes over (it would retire every event of the first)."""
        mark = self.ledger.marks.get(agent_id)
        candidates = [
            *(c for c in found if mark is not None and c.href == mark.href),
            *(c for c in found if c.segment == agent_id),
            *(c for c in found if c.display_name == agent_id),
        ]
        if len({c.href for c in candidates}) > 1:
            log.warning(
                "CalDAV: several calendars are agent %s's (%s); using %s",
                agent_id,
                ", ".join(sorted({c.href for c in candidates})),
                candidates[0].href,
            )
        return candidates[0] if candidates else None

    async def poll(self, agent_id: str, *, again: bool = False) -> None:
        """Copy what changed in the agent's collection since the last poll."""
        mark = self.ledger.marks[agent_id]
        started, listed_at = self.generation, self._clock.now()
        try:
            answer = await self.dav.sync(mark.href, self.tokens.get(agent_id))
        except CollectionGone:
            if again or not await self._found_elsewhere(agent_id):
                raise
            return await self.poll(agent_id, again=True)
        async with self.lock(agent_id):
            fresh: list[Resource] = []
            gone_hrefs = list(answer.removed)
            for resource in answer.changed:
                # A write from before the sync began is as fresh as any other change.
                if self.written.get(resource.href, -1) <= started:
                    fresh.append(resource)
                    continue
                # The moderator wrote it while this sync was under way, so the listing may be
                # older than that write; and an app's edit made after it would not be named
                # again by the advanced token: read it afresh, now.
                now_there = await self.dav.get(resource.href)
                if now_there is None:
                    gone_hrefs.append(resource.href)
                else:
                    fresh.append(now_there)
            listed = {r.href for r in answer.changed}
            if answer.full:
                gone_hrefs += [  # not what the moderator wrote after the listing began
                    href
                    for href, plan in self._plans.items()
                    if href not in listed
                    and self.written.get(href, -1) <= started
                    and self._agent_of_plan(plan) == agent_id
                ]
            await self.copy(agent_id, fresh, gone_hrefs)
            if answer.full:
                await self._retire_unlisted(agent_id, listed, listed_at)
            self.tokens[agent_id] = answer.token

    async def _found_elsewhere(self, agent_id: str) -> bool:
        """The agent's calendar is gone from its path: whether another one is the agent's now
        (deleted and made again in the app, which puts it under a path of its own). It is
        then used from now on, listed whole: what only the old one held is retired."""
        gone = self.ledger.marks[agent_id].href
        found = self._collection_of(agent_id, await self.dav.collections())
        if found is None or found.href == gone:
            return False
        log.warning(
            "CalDAV: agent %s's calendar %s is gone; using %s from now on",
            agent_id,
            gone,
            found.href,
        )
        self.ledger.marks[agent_id] = CollectionMark(found.href, self._clock.now().isoformat())
        self.ledger.save()
        self.tokens.pop(agent_id, None)
        return True

    def _agent_of_plan(self, plan: ObjectPlan) -> str | None:
        for one in plan.ids:
            return self.where.get(one, (None, ""))[0]
        return None

    async def copy(
        self,
        agent_id: str,
        resources: Iterable[Resource],
        gone_hrefs: Iterable[str] = (),
    ) -> None:
        """Copy `resources` of the agent's collection, and retire the events of `gone_hrefs`;
        the caller holds the agent's lock."""
        mark = self.ledger.marks[agent_id]
        history_before = mark.first_seen_at
        for href in gone_hrefs:
            plan = self._plans.pop(href, None)
            self.objects.pop(href, None)
            if plan is None:
                continue
            for one in plan.ids:
                self.where.pop(one, None)
            await self._copy_one(agent_id, ObjectPlan(href), plan.ids, history_before)
        planned = [
            (resource, plan_object(resource.href, resource.text, agent_id, self.zone))
            for resource in resources
        ]
        # Events released (finished, cancelled, …) before events held: a claim that moved on
        # from one event of the agent to the next between two polls must not find the first
        # still held in the copy (one held slot per agent), or the next is kept stale. The
        # same within one resource: two occurrences of one recurring event.
        planned.sort(key=lambda pair: _holds(pair[1]))
        for _, plan in planned:
            plan.slots.sort(key=_held)
        for resource, plan in planned:
            self.objects[resource.href] = resource
            for refusal in plan.refusals:
                log.warning(
                    "CalDAV: agent %s: %s skipped: %s", agent_id, refusal.name, refusal.reason
                )
            old = self._plans.get(resource.href)
            self._plans[resource.href] = plan
            for one in plan.ids:
                self.where[one] = (agent_id, resource.href)
            gone = set(old.ids - plan.ids) if old is not None else set()
            await self._copy_one(agent_id, plan, gone, history_before)

    async def _copy_one(
        self, agent_id: str, plan: ObjectPlan, gone: set[str], history_before: datetime
    ) -> None:
        try:
            outcome = await self.mirror.mirror_batch(
                agent_id, plan.series, plan.slots, gone=gone, history_before=history_before
            )
        except CalendarError as exc:
            log.warning("CalDAV: agent %s: %s not copied: %s", agent_id, plan.href, exc.detail)
            return
        for name, reason in outcome.skipped:
            log.warning("CalDAV: agent %s: %s kept as it is: %s", agent_id, name, reason)

    async def _retire_unlisted(
        self, agent_id: str, listed_hrefs: set[str], listed_at: datetime
    ) -> None:
        """After a full listing: what the copy holds but no listed resource names is gone."""
        named: set[str] = set()
        for href in listed_hrefs:
            plan = self._plans.get(href)
            if plan is not None:
                named |= plan.ids
        unlisted = await self.mirror.mirrored_ids(agent_id, listed_at) - named
        if unlisted:
            mark = self.ledger.marks[agent_id]
            await self._copy_one(agent_id, ObjectPlan(""), unlisted, mark.first_seen_at)

    async def wrote(self, agent_id: str, href: str, resource: Resource | None) -> None:
        """The moderator wrote `href` (`resource` None: deleted it): copy that now, and count
        it, so a poll that began before never copies its older view back. The caller holds
        the agent's lock."""
        self.generation += 1
        self.written[href] = self.generation
        await self._copy_or_retire(agent_id, href, resource)

    async def reread(self, agent_id: str, href: str) -> None:
        """Copy the event at `href` as the server has it now (retired if it is gone)."""
        await self._copy_or_retire(agent_id, href, await self.dav.get(href))

    async def _copy_or_retire(self, agent_id: str, href: str, resource: Resource | None) -> None:
        if resource is None:
            await self.copy(agent_id, [], [href])
        else:
            await self.copy(agent_id, [resource])


def _holds(plan: ObjectPlan) -> bool:
    """The resource says one of its slots is held (ONGOING or PAUSED) under a claim."""
    return any(_held(slot) for slot in plan.slots)


def _held(slot: ImportedSlot) -> bool:
    return slot.state is not None and slot.state.status.is_active
