"""Database files as another release of the bot left them, for upgrade and refusal tests.

The state store and the embedded calendar both keep their schema version in
SQLite's `user_version`; their tests lay down an old (or future) file and read
the version back the same way.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def write_file(path: Path, script: str) -> Path:
    """Run `script` against a fresh file at `path`, as an older release would have written it."""
    with sqlite3.connect(path) as raw:
        raw.executescript(script)
    return path


def user_version(path: Path) -> int:
    """The schema version a store wrote into the file (SQLite's `user_version`)."""
    with sqlite3.connect(path) as raw:
        version: int = raw.execute("PRAGMA user_version").fetchone()[0]
    return version
