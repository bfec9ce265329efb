"""Graceful shutdown: SIGTERM/SIGINT become an event, and a watchdog bounds the teardown.

A process manager (the Procfile's host, systemd, Docker) sends SIGTERM and kills
a few seconds later; the moderator should use those seconds to let an in-flight
wake finish (or leave it recorded in the ledger for the next start), flush its
state and close its sessions. The signal only sets an event here: the teardown
runs in the normal flow of the program, with `await`, not inside a handler.

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
from collections.abc import Awaitable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignal:
    """Set by the first SIGTERM/SIGINT; `name` says which. Later signals are logged only."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.name: str | None = None
        self._installed: list[signal.Signals] = []

    @classmethod
    def install(cls) -> StopSignal:
        """Handle SIGTERM and SIGINT on the running loop (main thread only)."""
        stop = cls()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            try:
                loop.add_signal_handler(sig, stop.trigger, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                continue
            stop._installed.append(sig)
        return stop

    def trigger(self, sig: signal.Signals | None = None) -> None:
        what = sig.name if sig is not None else "stop request"
        if self.event.is_set():
            log.info("%s received while already stopping; still shutting down", what)
            return
        self.name = what
        log.info("%s received: shutting down", what)
        self.event.set()

    async def wait(self) -> None:
        await self.event.wait()

    def uninstall(self) -> None:
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            for sig in self._installed:
                loop.remove_signal_handler(sig)
        self._installed.clear()


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
