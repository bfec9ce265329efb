"""DESIGN §9 exit codes, per command: 0 success, 1 a problem found or a failed command, 2 bad
configuration or usage."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.__main__ import main
from testkit.processes import REPO_ROOT, run_bot
from testkit.root_logging import own_root_logging
from tests.app.test_settings import ALL_VARS


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No stray variable; and the root logger as it was (`python -m bot` sets it up)."""
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "agents.toml").write_text('[[agents]]\nid = "ada"\n')
    with own_root_logging(monkeypatch):
        yield


@pytest.mark.parametrize(
    ("argv", "env", "code"),
    [
        (["check-config"], {"SPAWN_COMMAND": "true"}, 0),
        (["check-config"], {}, 2),  # nothing can wake the agents: a configuration to fix
        (["check-config"], {"SPAWN_COMMAND": "true", "CHECK_INTERVAL_S": "1e-9"}, 2),
        ([], {"SPAWN_COMMAND": "true", "SYNC_INTERVAL_S": "0"}, 2),
        ([], {"SPAWN_COMMAND": "true", "SHARD": "2/2"}, 2),
        (["demo", "--agents", "0"], {}, 2),
        (["demo", "--seconds", "-1"], {}, 2),
        (["calendar"], {}, 2),
        (
            [
                "calendar",
                "add",
                "--agent",
                "NOT AN ID",
                "--in",
                "1m",
                "--title",
                "t",
                "--prompt",
                "p",
            ],
            {},
            2,
        ),
        (["calendar", "list", "--date", "yesterday"], {}, 2),
        (["calendar", "list"], {}, 0),
        (["calendar", "list", "--agent", "ada"], {"CALENDAR_URL": "http://127.0.0.1:9"}, 1),
    ],
)
def test_each_command_answers_its_exit_code(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    code: int,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        got = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        got = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert got == code, (out, err)
    assert "Traceback" not in out + err


def test_an_unknown_command_is_usage_exit_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_a_real_process_with_a_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k.upper() not in ALL_VARS}
    env.update(PYTHONPATH=str(REPO_ROOT), SPAWN_COMMAND="true", CALENDAR_URL="http://cal:99999")
    done = run_bot(tmp_path, env)
    assert done.returncode == 2
    assert "CALENDAR_URL:" in done.stderr and "Traceback" not in done.stderr
