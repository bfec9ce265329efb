"""The root logger's handlers, which `python -m bot`'s `main()` sets up, kept per test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def own_root_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only this test's handlers on the root logger: one an earlier test left on a closed
    stream must not fire. (Levels are put back for every test by tests/conftest.py.)"""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
