"""Following a remote calendar's change feed (`GET /calendar/changes`, DESIGN §4.1).

One long poll at a time for every agent: the answer's changes go to the
listener (which only schedules re-syncs), and the next poll starts from the
answer's cursor. The first cursor is taken before `follow` returns, so before
the moderator's first sync: nothing committed in between is missed. A `reset`
(the calendar no longer knows our cursor) and a cursor taken again after an
outage both mean "anything may have changed": every known agent is re-synced.

A failing feed is retried with capped exponential backoff and reported as
down (`up`); meanwhile the periodic sync does the work, as it always can. A v1
server (404 on `GET /calendar` or on the feed) has no feed: that is said once
and nothing more is tried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from pydantic import BaseModel

from bot.calendar.client.answers import expect, model_of
from bot.calendar.client.transport import Transport
from bot.calendar.wire import CHANGES_PATH, INFO_PATH
from bot.core.calendar import CalendarError, ChangeListener, SlotChanged, tell_listeners
from bot.core.delays import Jitter, retry_delay
from bot.core.shard_status import FeedHealth
from bot.core.tasks import cancel_and_wait, log_task_end

log = logging.getLogger(__name__)

#: Seconds the server is asked to hold a poll; the request itself may take this plus a margin.
POLL_WAIT_S = 25
POLL_MARGIN_S = 10.0


class _Change(BaseModel):
    agent_id: str
    slot_id: str | None = None


class _Page(BaseModel):
    cursor: str
    reset: bool = False
    changes: list[_Change] = []


class FeedMissing(Exception):
    """The server has no change feed (API 1)."""


class ChangeFeed:
    """The feed of one remote calendar, followed by at most one task."""

    def __init__(
        self,
        transport: Transport,
        *,
        agents: Iterable[str] = (),
        wait_s: float = POLL_WAIT_S,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self._transport = transport
        #: Re-synced on a reset: the feed cannot say which of them changed.
        self._agents = tuple(agents)
        self._wait_s = wait_s
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._listeners: list[ChangeListener] = []
        self._task: asyncio.Task[None] | None = None
        self._up = False
        self._missing = False
        #: When the feed stopped answering (wall clock), for /status.
        self._down_since: datetime | None = None

    @property
    def up(self) -> bool:
        """Whether the last poll was answered (False before the first, when down, on v1)."""
        return self._up

    @property
    def health(self) -> FeedHealth:
        """`up`, and since when it is not, for /status (DESIGN §4.1)."""
        return FeedHealth(live=self._up, down_since=self._down_since, missing=self._missing)

    async def follow(self, listener: ChangeListener) -> Callable[[], None]:
        """`ChangeSource.follow`; the cursor is taken before this returns."""
        self._listeners.append(listener)
        if not self._missing and (self._task is None or self._task.done()):
            cursor: str | None = None
            try:
                cursor = await self._first_cursor()
            except FeedMissing:
                self._no_feed()
            except CalendarError as exc:  # taken again by the loop, with a re-sync of everyone
                log.warning("calendar change feed: no cursor yet (%s); retrying", exc.detail)
            if not self._missing:
                self._task = asyncio.create_task(self._run(cursor), name="calendar-change-feed")
                self._task.add_done_callback(log_task_end)

        def unfollow() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unfollow

    async def close(self) -> None:
        self._listeners.clear()
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def _no_feed(self) -> None:
        self._missing = True
        self._up = False
        log.warning(
            "the calendar at %s has no change feed (API 1): changes arrive with the periodic sync",
            self._transport.shown_url,
        )

    async def _first_cursor(self) -> str:
        info = await self._transport.request("GET", INFO_PATH)
        if info.status == 404:
            raise FeedMissing
        return (await self._poll(None)).cursor

    async def _poll(self, cursor: str | None) -> _Page:
        what = f"GET {CHANGES_PATH}"
        params = {} if cursor is None else {"since": cursor, "wait": str(self._wait_s)}
        answer = await self._transport.request(
            "GET", CHANGES_PATH, params=params, timeout_s=self._wait_s + POLL_MARGIN_S
        )
        if answer.status == 404:
            raise FeedMissing
        page = model_of(_Page, expect(answer, what, 200), what)
        self._up = True
        self._down_since = None
        return page

    async def _run(self, cursor: str | None) -> None:
        failures = 0
        while self._listeners:
            try:
                if cursor is None:
                    cursor = (await self._poll(None)).cursor
                    self._tell(SlotChanged(agent, None) for agent in self._agents)
                    continue
                page = await self._poll(cursor)
            except FeedMissing:
                self._no_feed()
                return
            except CalendarError as exc:
                self._up = False
                if self._down_since is None:
                    self._down_since = datetime.now(UTC)
                failures += 1
                delay = self._delay(failures)
                log_at = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(
                    log_at,
                    "calendar change feed failed (%s); retrying in %.1f s, the periodic sync "
                    "covers meanwhile",
                    exc.detail,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("calendar change feed is back after %d failure(s)", failures)
                failures = 0
            cursor = page.cursor
            if page.reset:
                log.info("calendar change feed was reset: re-reading every agent")
                self._tell(SlotChanged(agent, None) for agent in self._agents)
            elif page.changes:
                self._tell(SlotChanged(c.agent_id, c.slot_id) for c in page.changes)

    def _delay(self, failures: int) -> float:
        return retry_delay(
            failures, base_s=self._backoff_base, max_s=self._backoff_max, jitter=Jitter.EQUAL
        )

    def _tell(self, changes: Iterable[SlotChanged]) -> None:
        tell_listeners(self._listeners, list(changes))
