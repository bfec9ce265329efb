"""The `.env` file, looked at before pydantic-settings reads it (DESIGN §8).

pydantic-settings reads `.env` whole, decodes it as UTF-8 with no size limit, and says
nothing of the file in its errors: a file saved as Latin-1 ends in a UnicodeDecodeError
traceback, a 100 MB one (a log redirected to the wrong name) takes seconds and hundreds
of MB, and a directory (what Docker makes when the file it should bind-mount is missing)
is skipped without a word. Here each is said in one line naming the file.

Values only a `.env` can carry are refused here too: an environment variable cannot hold a
NUL byte (execve ends the string there), a line of `.env` can, and `open()` refuses it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from dotenv import dotenv_values
from pydantic import BeforeValidator

from bot.app.errors import ConfigError

#: Far above any real settings file (a few KiB), far below what takes a visible while to read.
MAX_ENV_FILE_BYTES = 1024 * 1024


def env_file_path(overrides: Mapping[str, Any], default: object) -> Path | None:
    """The `.env` a settings read will use: the `_env_file` given, else `default` (the
    model's `env_file`); None when there is none (tests pass `_env_file=None`)."""
    env_file = overrides.get("_env_file", default)
    return Path(env_file) if isinstance(env_file, str | os.PathLike) else None


def check_env_file(path: Path | None) -> str | None:
    """Raise `ConfigError` for a `.env` that cannot be read as settings; return a warning
    for one that is there but is not read at all (a directory); None when all is well."""
    if path is None:
        return None
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None  # no .env: the environment alone, as documented
    except OSError as exc:
        raise ConfigError(f"{path}: cannot look at it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        return (
            f"{path} is a directory, not a file: no settings were read from it (Docker makes "
            "one when the file it should mount is missing)"
        )
    if not stat.S_ISREG(mode):
        return None  # a FIFO (a secrets manager's) is read as it streams; it has no size
    try:
        with path.open("rb") as file:
            data = file.read(MAX_ENV_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_ENV_FILE_BYTES:
        raise ConfigError(
            f"{path}: is larger than {MAX_ENV_FILE_BYTES >> 20} MiB; a settings file is a "
            "few lines of NAME=value (is it a log or a database saved under that name?)"
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "save the file as UTF-8"
        ) from None
    return None


def env_file_values(path: Path | None) -> dict[str, str | None]:
    """The `.env`'s values by lower-case name, for keeping its secrets out of errors; empty
    when it cannot be read (whatever stops the read is reported elsewhere)."""
    if path is None or not path.is_file():
        return {}
    with contextlib.suppress(OSError, ValueError):
        return {k.lower(): v for k, v in dotenv_values(path).items()}
    return {}


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("holds a NUL byte (from .env?); a path cannot")
    return value


#: A path setting: a NUL byte in it is a configuration error, not a crash at `open()`.
SettingPath = Annotated[Path, BeforeValidator(_no_nul)]
