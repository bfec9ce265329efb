"""One asyncio lock per key (a slot id), kept only while someone holds or waits for it.

A lock per slot makes two wakes of one slot run one after the other (the second
finds the first's channel) while wakes of different slots run side by side; a
plain dict of locks would grow by one entry per slot forever.
"""

from __future__ import annotations

import asyncio


class KeyedLocks:
    """`async with locks(key):` holds the key's lock; the entry goes with its last user."""

    def __init__(self) -> None:
        self._table: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._table)

    def __call__(self, key: str) -> _Held:
        return _Held(self._table, key)


class _Held:
    """One use of one key's lock (an async context manager)."""

    def __init__(self, table: dict[str, tuple[asyncio.Lock, int]], key: str) -> None:
        self._table = table
        self._key = key

    async def __aenter__(self) -> None:
        lock, users = self._table.get(self._key, (asyncio.Lock(), 0))
        self._table[self._key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._table[self._key][0].release()
        self._leave()

    def _leave(self) -> None:
        lock, users = self._table[self._key]
        if users <= 1:
            del self._table[self._key]
        else:
            self._table[self._key] = (lock, users - 1)
