"""A real calendar with faults injected per call: the one fault-injecting `Calendar` double.

`FaultyCalendar(calendar, clock, CallFault(...), ...)` passes every call through to
the real calendar unless a fault in `faults` matches it. A fault names the call
(`method`, for `transition` also the `action`; the agents it is about), what is
raised, and whether the call reaches the calendar first (`after`: the answer is
lost, the write landed) and what happens at the calendar meanwhile (`meanwhile`:
another party's write, e.g. the owner re-defers the slot or another moderator
claims it). Every match is recorded with its fake time in `hits`.

Examples::

    FaultyCalendar(cal, clock, CallFault())                                # everything is down
    FaultyCalendar(cal, clock, CallFault(agents={"bob"}))                  # only bob's calls
    FaultyCalendar(cal, clock, CallFault("transition", Action.START))      # claims time out
    FaultyCalendar(cal, clock, CallFault("transition", Action.RELEASE, after=True,
                                         error=ProcessDied))               # crash after a write
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import CalendarUnavailable
from bot.core.clock import Clock
from bot.core.models import Action, Slot

#: What happens at the calendar while the faulty call is under way: (calendar, slot id, the
#: answer when the call landed first, else None).
Meanwhile = Callable[[EmbeddedCalendar, str, Slot | None], Awaitable[object]]


@dataclass(frozen=True)
class CallFault:
    """One way calendar calls go wrong; the defaults make every call unreachable."""

    method: str = "*"
    action: Action | None = None
    agents: Collection[str] | None = None
    error: Callable[[str], BaseException] = CalendarUnavailable
    detail: str = "calendar unreachable (test outage)"
    after: bool = False
    #: only a `transition` with an idempotency key not seen before (a retry gets through)
    new_keys_only: bool = False
    meanwhile: Meanwhile | None = None

    def matches(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        if self.method not in ("*", method):
            return False
        if self.action is not None and (len(args) < 2 or args[1] is not self.action):
            return False
        if self.agents is not None:
            if method == "heartbeat_many":  # a batch is hit when any of its agents is
                return any(beat.agent_id in self.agents for beat in args[0])
            agent = kwargs.get("agent_id") or (args[0] if args else None)
            return agent in self.agents
        return True


class FaultyCalendar:
    """The real calendar behind a list of faults that a test can change at any moment."""

    def __init__(self, inner: EmbeddedCalendar, clock: Clock, *faults: CallFault) -> None:
        self.inner = inner
        self.clock = clock
        self.faults = list(faults)
        #: every call a fault took: (the fault, when)
        self.hits: list[tuple[CallFault, datetime]] = []
        #: answers to `get_day` that said "unchanged" (the ETag matched)
        self.unchanged_days = 0
        #: every call made through this calendar, by method name (faulty ones included)
        self.calls: Counter[str] = Counter()
        self._keys: set[str | None] = set()

    def fail(self, *faults: CallFault) -> None:
        self.faults[:] = faults

    def heal(self) -> None:
        self.faults.clear()

    def hit_times(self) -> list[datetime]:
        return [at for _, at in self.hits]

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr) or name == "close":
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            fault = self._fault_for(name, args, kwargs)
            if fault is None:
                result = await attr(*args, **kwargs)
                if name == "get_day" and result.unchanged:
                    self.unchanged_days += 1
                return result
            self.hits.append((fault, self.clock.now()))
            result = await attr(*args, **kwargs) if fault.after else None
            if fault.meanwhile is not None:
                await fault.meanwhile(self.inner, args[0], result)
            raise fault.error(fault.detail)

        return call

    def _fault_for(
        self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> CallFault | None:
        for fault in self.faults:
            if not fault.matches(method, args, kwargs):
                continue
            if fault.new_keys_only:
                key = kwargs.get("idempotency_key")
                if key in self._keys:
                    continue
                self._keys.add(key)
            return fault
        return None
