"""Graceful shutdown: SIGTERM/SIGINT become an event, and a watchdog bounds the teardown.

A process manager (the Procfile's host, systemd, Docker) sends SIGTERM and kills
a few seconds later; the moderator should use those seconds to let an in-flight
wake finish (or leave it recorded in the ledger for the next start), flush its
state and close its sessions. The signal only sets an event here: the teardown
runs in the normal flow of the program, with `await`, not inside a handler.

The signals are held from the start of the commands that run until stopped (the
bot's run and `calendar serve`: `held_stop_signals`, before their imports): one
that comes before the event loop runs stops the run as soon as it starts. In the
`python -m bot` process they stay held to its end
(`ignore_stop_signals_at_exit`): one during the exit (a supervisor repeating its
stop, Ctrl-C pressed twice) cannot end it by signal (-15, -2) after a clean stop
that exits 0. A run in another process (a test's) gives the handlers back.

The watchdog is the last resort for a teardown that hangs (a stuck thread, a
library that ignores cancellation): after `hard_limit_s` it logs and ends the
process with status 1, so a stop request is never ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Coroutine, Iterator
from types import FrameType
from typing import Any, Protocol, TypeVar

from bot.core.tasks import CLOSE_STEP_S

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Closable(Protocol):
    async def close(self) -> None: ...


Resource = TypeVar("Resource", bound=_Closable)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _Held:
    """The process's stop signals while they are held: who listens, what came unheard."""

    def __init__(self) -> None:
        #: The handlers that were there before, to give back (empty: not held).
        self.previous: dict[signal.Signals, Any] = {}
        self.listener: tuple[asyncio.AbstractEventLoop, StopSignal] | None = None
        #: The first signal that came while nobody listened (before the loop runs).
        self.unheard: signal.Signals | None = None
        #: Ignore the signals once the hold ends, rather than give the handlers back.
        self.ignore_at_exit = False


_HELD = _Held()


def ignore_stop_signals_at_exit() -> None:
    """For `python -m bot`, whose process ends with the command: a hold that ends leaves the
    stop signals ignored, not handled in Python (the interpreter's very end puts the
    default back for those, and a signal then would end the process by signal)."""
    _HELD.ignore_at_exit = True


@contextlib.contextmanager
def held_stop_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGINT only ask for a stop (`StopSignal`); nested, only
    the outermost holds them.

    Plain `signal.signal` handlers, not the loop's `add_signal_handler`, which puts the
    defaults back when the loop closes, before the process has ended. Only the main
    thread can set them; elsewhere nothing changes (and no signal is delivered there).
    """
    if _HELD.previous or threading.current_thread() is not threading.main_thread():
        yield
        return
    for sig in STOP_SIGNALS:
        _HELD.previous[sig] = signal.signal(sig, _on_stop_signal)
    try:
        yield
    finally:
        for sig, handler in _HELD.previous.items():
            if _HELD.ignore_at_exit:
                handler = signal.SIG_IGN
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        _HELD.previous.clear()
        _HELD.unheard = None


def _on_stop_signal(signum: int, _frame: FrameType | None) -> None:
    """Runs in the main thread between two bytecodes: hands the signal to the loop."""
    sig = signal.Signals(signum)
    listener = _HELD.listener
    if listener is None:  # before the loop runs, or after: the stop is then under way
        _HELD.unheard = _HELD.unheard or sig
        return
    loop, stop = listener
    with contextlib.suppress(RuntimeError):  # the loop closed in between: the stop ran
        loop.call_soon_threadsafe(stop.trigger, sig)


class StopSignal:
    """Set by the first SIGTERM/SIGINT; `name` says which. A later one is logged once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.name: str | None = None
        self._repeats = 0

    @classmethod
    def install(cls) -> StopSignal:
        """Listen to the held SIGTERM and SIGINT (`held_stop_signals`) on the running loop;
        one that came before the loop ran sets it at once."""
        stop = cls()
        _HELD.listener = (asyncio.get_running_loop(), stop)
        if _HELD.unheard is not None:
            stop.trigger(_HELD.unheard)
            _HELD.unheard = None
        return stop

    def trigger(self, sig: signal.Signals | None = None) -> None:
        what = sig.name if sig is not None else "stop request"
        if self.event.is_set():
            self._repeats += 1
            if self._repeats == 1:  # a supervisor may repeat it every few ms: once is enough
                log.info("%s received while already stopping; still shutting down", what)
            return
        self.name = what
        log.info("%s received: shutting down", what)
        self.event.set()

    async def wait(self) -> None:
        await self.event.wait()

    def uninstall(self) -> None:
        """Stop listening; a signal from now on is the stop already under way."""
        if _HELD.listener is not None and _HELD.listener[1] is self:
            _HELD.listener = None


async def first_or_stop(task: asyncio.Future[Any], stop: StopSignal) -> bool:
    """Wait until `task` ends or a stop signal comes; True when the task ended."""
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    return task.done()


async def unless_stopped(
    opening: Coroutine[Any, Any, Resource], stop: StopSignal, what: str
) -> Resource | None:
    """What `opening` opens, or None when a stop signal comes first: a locked calendar file
    or a silent server must not hold a stop past its budget. The opening is cancelled (an
    opener closes what it half opened); one that got done in the meantime is closed here."""
    task = asyncio.create_task(opening, name=f"opening {what}")
    if await first_or_stop(task, stop):
        return task.result()
    log.info("stopped while opening %s", what)
    task.cancel()
    await asyncio.wait({task}, timeout=CLOSE_STEP_S)
    if task.done() and not task.cancelled() and task.exception() is None:
        await bounded(task.result().close(), CLOSE_STEP_S, f"closing {what}")
    return None


class Watchdog:
    """Ends the process with status 1 if it is still tearing down after `hard_limit_s`."""

    def __init__(self, hard_limit_s: float) -> None:
        self._timer = threading.Timer(hard_limit_s, self._fire, args=(hard_limit_s,))
        self._timer.daemon = True

    def start(self) -> Watchdog:
        self._timer.start()
        return self

    def cancel(self) -> None:
        self._timer.cancel()

    @staticmethod
    def _fire(limit: float) -> None:
        log.error("shutdown did not finish within %gs; exiting now", limit)
        logging.shutdown()
        os._exit(1)


async def bounded(step: Awaitable[T], seconds: float, what: str) -> T | None:
    """Await one teardown step for at most `seconds`; a timeout or error is logged, not raised."""
    try:
        async with asyncio.timeout(seconds):
            return await step
    except TimeoutError:
        log.warning("%s did not finish within %gs; going on", what, seconds)
    except Exception:
        log.exception("%s failed; going on", what)
    return None
