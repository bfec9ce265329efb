"""Damaging real SQLite files the way disks do, for the "files are the user's" tests (DESIGN §4)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path


def page_size(path: Path) -> int:
    with closing(sqlite3.connect(path)) as raw:
        return int(raw.execute("PRAGMA page_size").fetchone()[0])


def root_page(path: Path, table: str) -> int:
    """The page number of `table`'s b-tree root: overwriting it breaks that table for good."""
    with closing(sqlite3.connect(path)) as raw:
        row = raw.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
    assert row is not None, f"{path} has no table {table}"
    return int(row[0])


def corrupt_page(path: Path, table: str) -> None:
    """Overwrite the root page of `table` with noise; the header (page 1) stays intact.

    The file must be closed (no `-wal` left): SQLite checkpoints on the last close.
    """
    assert not path.with_name(path.name + "-wal").exists(), "close the database first"
    size = page_size(path)
    page = root_page(path, table)
    assert page > 1, "page 1 holds the header; corrupt a table's own page"
    with path.open("r+b") as file:
        file.seek((page - 1) * size)
        file.write(bytes((i * 37 + 11) % 256 for i in range(size)))
        file.flush()
        os.fsync(file.fileno())


def snapshot(directory: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every entry under `directory` (kind, size, small files' content): proves nothing changed."""
    found: dict[str, tuple[int, int, bytes | None]] = {}
    for entry in sorted(directory.rglob("*")):
        info = entry.lstat()
        small = entry.is_file() and not entry.is_symlink() and info.st_size <= 1 << 20
        found[str(entry.relative_to(directory))] = (
            info.st_mode,
            info.st_size,
            entry.read_bytes() if small else None,
        )
    return found


@contextmanager
def untouched(directory: Path) -> Iterator[None]:
    """Fails unless every entry under `directory` is, after the block, as it was before:
    a refusal that stores, renames or deletes nothing."""
    before = snapshot(directory)
    yield
    assert snapshot(directory) == before
