"""The files the bot would open, judged before any is opened (DESIGN §4)."""

from __future__ import annotations

from pathlib import Path

from bot.app.settings import Settings
from bot.core.sqlite_path import path_problem


def file_problems(settings: Settings) -> list[str]:
    """What is wrong with the paths of the files the bot would open, looking only (DESIGN §4).

    Run before either file is opened, so a bad `STATE_PATH` does not leave a new
    calendar file behind (and by `check-config`, which opens nothing).
    """
    paths: list[tuple[str, Path]] = [("STATE_PATH", settings.state_path)]
    if settings.calendar_is_embedded:
        paths.insert(0, ("CALENDAR_URL", settings.calendar_db_path))
    problems = []
    for variable, path in paths:
        problem = path_problem(path)
        if problem is not None:
            problems.append(f"{variable}: {path} {problem}")
    return problems
