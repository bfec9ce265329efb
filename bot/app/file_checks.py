"""The files the bot would open, judged before any is opened (DESIGN §4)."""

from __future__ import annotations

from pathlib import Path

from bot.app.settings import Settings
from bot.calendar.store.schema import CALENDAR_FILE
from bot.core.sqlite_file import DatabaseKind, header_problem
from bot.core.state.database import STATE_FILE


def file_problems(settings: Settings) -> list[str]:
    """What is wrong with the files the bot would open, looking only (DESIGN §4): their paths,
    and an existing file's header (not SQLite, another program's, empty where that is
    refused), as the opener would say it.

    Run before either file is opened, so a bad `STATE_PATH` does not leave a new
    calendar file behind (and by `check-config`, which opens nothing).
    """
    files: list[tuple[Path, DatabaseKind]] = [(settings.state_path, STATE_FILE)]
    if settings.calendar_is_embedded:
        files.insert(0, (settings.calendar_db_path, CALENDAR_FILE))
    problems = []
    for path, kind in files:
        problem = header_problem(path, kind)
        if problem is not None:
            problems.append(f"{kind.setting}: {path} {problem}")
    return problems
