"""The process-wide logging state that `python -m bot`'s `main()` sets up, kept per test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.app.logs import NOISY_LOGGERS


@contextmanager
def own_root_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only this test's handlers on the root logger (one an earlier test left on a closed
    stream must not fire), and the root's and the chatty libraries' levels put back after:
    a test that runs `main()` must not leave `aiohttp.access` at WARNING for the next."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    levels = {name: logging.getLogger(name).level for name in ("", *NOISY_LOGGERS)}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
