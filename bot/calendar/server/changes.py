"""`GET /calendar/changes`: the change feed as a long poll (DESIGN §4.1).

The cursor is `<store mark>-<history sequence number>` (`bot.calendar.store.feed`),
so it survives restarts, means the same on every server of one store, and one
from another store is a reset. A bare number (as cursors were before the mark,
held by a client across an upgrade) is taken as this store's. A
waiting request sleeps on one `Pulse` the server keeps, woken by the store's
own `ChangeWatch` (our commits at once, another process' within its poll), and
then reads the history again: the pulse only says "look", the history says
what. The pulse is taken before each read, so a commit between the read and the
wait still wakes it. On shutdown every waiter answers at once (no changes),
so stopping the server never waits out a long poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
from collections.abc import Callable, Sequence

from aiohttp import web

from bot.calendar.server.errors import ApiError
from bot.calendar.server.requests import agent_header, calendar_of
from bot.calendar.store import EmbeddedCalendar
from bot.calendar.store.feed import FeedPage
from bot.core.calendar import SlotChanged

#: The longest `wait` a caller may ask for (seconds, DESIGN §4.1).
MAX_WAIT_S = 60.0
#: A cursor: the store's mark, a dash, and a history sequence number (decimal, at most 18
#: digits: it fits SQLite's int); or a bare number, as this feed answered before the mark.
_CURSOR_RE = re.compile(r"^(?:(?P<mark>[0-9a-f]{1,12})-)?(?P<seq>[0-9]{1,18})$")

_PARAMETERS = frozenset({"since", "wait"})
#: Seconds as plain decimals (no sign, exponent, `_`, `inf` or spaces that `float` would take).
_WAIT_RE = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6})?$")


class Pulse:
    """Wakes every waiter when the store says something was committed."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._unfollow: Callable[[], None] | None = None
        self._lock = asyncio.Lock()
        self.closed = False

    @property
    def current(self) -> asyncio.Event:
        """Set at the next commit; take it before reading, wait on it after."""
        return self._event

    @property
    def following(self) -> bool:
        """Whether a long poll has started it hearing of the store's commits."""
        return self._unfollow is not None

    def beat(self, _changes: Sequence[SlotChanged] = ()) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def follow(self, calendar: EmbeddedCalendar) -> None:
        """Start hearing of the store's commits (once, at the first long poll)."""
        async with self._lock:
            if self._unfollow is None and not self.closed:
                self._unfollow = await calendar.changes.follow(self.beat)

    def close(self) -> None:
        self.closed = True
        unfollow, self._unfollow = self._unfollow, None
        if unfollow is not None:
            unfollow()
        self.beat()


PULSE_KEY = web.AppKey("calendar_change_pulse", Pulse)


def install_changes(app: web.Application) -> None:
    """The pulse for `app`, closed when the server shuts down (before it waits for handlers)."""
    app[PULSE_KEY] = Pulse()

    async def close(app: web.Application) -> None:
        app[PULSE_KEY].close()

    app.on_shutdown.append(close)


def check_parameters(request: web.Request) -> None:
    """Only `since` and `wait`, each once: a misspelt `wait` must not turn into no wait."""
    names = set(request.query)
    unknown = sorted(names - _PARAMETERS)
    if unknown or any(len(request.query.getall(n)) > 1 for n in names):
        shown = ", ".join(repr(n[:40]) for n in unknown[:3]) or "a repeated parameter"
        raise ApiError(400, "bad_query", f"the change feed takes only since and wait, got {shown}")


def query_cursor(request: web.Request) -> tuple[int, str | None] | None:
    """`since` as (history sequence number, store mark or None), or None without it."""
    raw = request.query.get("since")
    if raw is None:
        return None
    found = _CURSOR_RE.match(raw)
    if found is None:
        raise ApiError(
            400, "bad_cursor", f"since must be a cursor this feed answered, got {raw[:40]!r}"
        )
    return int(found["seq"]), found["mark"]


def query_wait(request: web.Request) -> float:
    raw = request.query.get("wait")
    if raw is None:
        return 0.0
    wait = float(raw) if _WAIT_RE.match(raw) else math.nan
    if not 0 <= wait <= MAX_WAIT_S:  # NaN fails this too
        raise ApiError(
            400,
            "bad_wait",
            f"wait must be a number of seconds from 0 to {MAX_WAIT_S:g}, got {raw[:40]!r}",
        )
    return wait


def page_json(page: FeedPage) -> dict[str, object]:
    return {
        "cursor": f"{page.mark}-{page.cursor}",
        "reset": page.reset,
        "changes": [
            {
                "agent_id": c.agent_id,
                "slot_id": c.slot_id,
                "series_id": c.series_id,
                "dates": [day.isoformat() for day in c.days],
                "version": c.version,
            }
            for c in page.changes
        ],
    }


async def get_changes(request: web.Request) -> web.StreamResponse:
    check_parameters(request)
    asked = query_cursor(request)
    since, mark = asked if asked is not None else (None, None)
    wait = query_wait(request)
    # The full token sees every agent; an agent token (or X-Agent-Id) only its own.
    agent_id = agent_header(request)
    calendar = calendar_of(request)
    pulse = request.app[PULSE_KEY]
    if since is not None and wait > 0:
        await pulse.follow(calendar)
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        woken = pulse.current
        page = await calendar.feed_page(since, agent_id, mark)
        left = deadline - asyncio.get_running_loop().time()
        if since is None or page.reset or page.changes or left <= 0 or pulse.closed:
            return web.json_response(page_json(page), headers={"Cache-Control": "no-store"})
        moved, since, mark = page.cursor != since, page.cursor, page.mark  # others' lines
        if moved:
            continue  # read on at once: a full page of others' lines may hide ours after it
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), left)
