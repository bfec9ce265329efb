"""`.env` files that are not what they seem: not UTF-8 (saved as Latin-1), a directory
(what Docker makes when the file it should bind-mount is missing), a NUL byte in a path
(which only a `.env` can carry), or megabytes (a log saved under that name). Each is said
in one message naming `.env` or the variable, exit 2 where the settings cannot be read,
never a traceback.

The process tests come from a review of the operator's lifecycle (a UnicodeDecodeError or
"embedded null byte" traceback and exit 1, a directory silently skipped); the size bound
answers its note of a 104 MB `.env` that took 17 s and 280 MB to be read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.env_file import MAX_ENV_FILE_BYTES
from bot.app.errors import ConfigError
from bot.app.settings import load_settings
from testkit.processes import bot_env, run_bot
from tests.app.lifecycle_runs import env_file_run


@pytest.mark.parametrize("command", [(), ("check-config",)], ids=["run", "check-config"])
def test_an_env_file_that_is_not_utf8_is_exit_2_naming_it(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    code, out = env_file_run(tmp_path, b"SPAWN_COMMAND=true\nWAKE_CATEGORY=caf\xe9\n", *command)
    assert code == 2, out[-2000:]
    assert ".env" in out and "Traceback" not in out
    assert "line 2" in out  # where to look


def test_an_env_that_is_a_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    env = bot_env(None, tmp_path, SPAWN_COMMAND="true")
    done = run_bot(tmp_path, env, "check-config")
    assert ".env" in done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr  # the environment has it all


@pytest.mark.parametrize("variable", ["STATE_PATH", "AGENTS_FILE"])
def test_a_nul_byte_in_a_path_from_env_is_exit_2_naming_the_variable(
    tmp_path: Path, variable: str
) -> None:
    code, out = env_file_run(
        tmp_path, f"SPAWN_COMMAND=true\n{variable}=my\x00file\n".encode(), "check-config"
    )
    assert code == 2, out[-2000:]
    assert variable in out and "Traceback" not in out


def test_an_env_file_over_the_bound_is_refused_before_it_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    line = b"# " + b"x" * 1021 + b"\n"  # a valid comment line: only the size is wrong
    env_file.write_bytes(line * (MAX_ENV_FILE_BYTES // len(line) + 1))
    with pytest.raises(ConfigError, match=r"\.env: is larger than 1 MiB"):
        load_settings(_env_file=env_file)


def test_an_env_file_at_the_bound_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    setting = b"WAKE_CATEGORY=from-the-file\n"
    env_file.write_bytes(setting + b"#" * (MAX_ENV_FILE_BYTES - len(setting)))
    assert load_settings(_env_file=env_file).wake_category == "from-the-file"
