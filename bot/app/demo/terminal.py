"""The demo's terminal: stdout made safe for its characters and for `| head`, and quiet logs.

None of this is the story; it is what keeps a newcomer's first run free of
tracebacks and encoding errors whatever their terminal is.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Callable
from typing import TextIO

from bot.app.logs import RedactSecrets, formatter_for, parse_level


class DemoError(Exception):
    """A problem the user can act on, printed as one line (never a traceback)."""


def console() -> TextIO:
    """stdout, made safe for the box-drawing and quote characters the story uses."""
    stream = sys.stdout
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "─“”…—".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            reconfigure(errors="replace")
    return stream


class _DemoLogHandler(logging.StreamHandler[TextIO]):
    """The demo's own stderr handler, removed again when the demo returns."""


def quiet_logging() -> Callable[[], None]:
    """WARNING on stderr unless LOG_LEVEL says otherwise; answers how to undo it.

    Undone afterwards so an in-process caller (tests) keeps its own logging.
    """
    try:
        level = parse_level((os.environ.get("LOG_LEVEL") or "WARNING").strip().upper())
        formatter = formatter_for((os.environ.get("LOG_FORMAT") or "text").strip().lower())
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    handler = _DemoLogHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(level)

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(before)
        handler.close()

    return undo


class PipeGuard(io.TextIOBase):
    """The output stream, minus the BrokenPipeError of a reader that left (`| head`).

    Without it the failure would surface wherever the story happens to be
    printed (inside the waker, an event hook, an agent) as a logged traceback.
    """

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self._inner = inner
        self.broken = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._inner.write(text)
            except BrokenPipeError:
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._inner.flush()
            except BrokenPipeError:
                self.broken = True


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
