"""SpawnCommandWaker running real processes (a small Python script), never a shell."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app.agents_file import load_agents
from bot.core.agents import AgentConfig
from bot.wakers.spawn_command import SpawnCommandWaker, substitute_argv
from bot.wakers.spawn_env import SpawnEnvironment
from tests.discord_io.conftest import make_slot

EXAMPLE_AGENTS = Path(__file__).resolve().parents[2] / "agents.example.toml"
RECORDER = """
import json, os, sys
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump({"argv": sys.argv[2:], "wake_id": os.environ.get("WAKE_ID")}, out)
print("started agent", sys.argv[2])
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


async def test_prompt_arrives_as_one_literal_argument_without_a_shell(
    tmp_path: Path, alice: AgentConfig
) -> None:
    record = tmp_path / "argv.json"
    script = _script(tmp_path, "record.py", RECORDER)
    canary = tmp_path / "pwned"
    prompt = (
        f'it\'s "quoted"; touch {canary} && echo $(touch {canary}) `touch {canary}`\n'
        "second line {slot_id} {unknown} {}"
    )
    template = (
        sys.executable,
        str(script),
        str(record),
        "--agent={agent_id}",
        "{slot_id}",
        "{prompt}",
        "{literal braces} {0}",
    )
    waker = SpawnCommandWaker(
        template, environment=SpawnEnvironment(calendar_url="http://127.0.0.1:1")
    )
    result = await waker.wake(alice, make_slot("slot-xyz"), prompt)
    assert result.ok, result.error
    assert result.via == "spawn_command"
    recorded = json.loads(record.read_text(encoding="utf-8"))
    assert recorded["argv"] == [
        "--agent=alice",
        "slot-xyz",
        prompt,
        "{literal braces} {0}",
    ]
    assert recorded["wake_id"]
    assert not canary.exists()


def test_substitution_is_single_pass() -> None:
    argv = substitute_argv(
        ["{prompt}", "x{agent_id}y{agent_id}", "{slot_id}"],
        {"prompt": "{slot_id} {agent_id}", "agent_id": "a", "slot_id": "s"},
    )
    assert argv == ["{slot_id} {agent_id}", "xaya", "s"]


async def test_non_zero_exit_is_a_failure_with_its_output(
    tmp_path: Path, alice: AgentConfig
) -> None:
    script = _script(
        tmp_path,
        "fail.py",
        "import sys\nprint('agent runtime not found', file=sys.stderr)\nsys.exit(3)\n",
    )
    waker = SpawnCommandWaker((sys.executable, str(script), "{prompt}"))
    result = await waker.wake(alice, make_slot(), "p")
    assert not result.ok
    assert result.error is not None
    assert "exited 3" in result.error and "agent runtime not found" in result.error


async def test_timeout_kills_and_fails(tmp_path: Path, alice: AgentConfig) -> None:
    pidfile = tmp_path / "pid"
    script = _script(
        tmp_path,
        "sleep.py",
        f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n",
    )
    waker = SpawnCommandWaker((sys.executable, str(script)), timeout_s=1.5)
    result = await waker.wake(alice, make_slot(), "p")
    assert not result.ok
    assert result.error is not None
    assert "did not finish within 1.5 s and was killed" in result.error
    if pidfile.exists():  # on a very loaded machine the script may not have got that far
        assert not _alive(int(pidfile.read_text()))


async def test_background_child_holding_stdout_does_not_block_the_wake(
    tmp_path: Path, alice: AgentConfig
) -> None:
    """A launcher that starts the agent in the background and exits 0 is a success."""
    script = _script(
        tmp_path,
        "launch.py",
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; print(1, flush=True); "
        "time.sleep(30)'])\n"
        "print('launched')\n",
    )
    waker = SpawnCommandWaker((sys.executable, str(script)), timeout_s=15.0)
    result = await waker.wake(alice, make_slot(), "p")
    assert result.ok, result.error


async def test_large_output_is_bounded(tmp_path: Path, alice: AgentConfig) -> None:
    script = _script(
        tmp_path, "loud.py", "import sys\nsys.stdout.write('x' * 200000)\nsys.exit(1)\n"
    )
    waker = SpawnCommandWaker((sys.executable, str(script)), output_limit=1000)
    result = await waker.wake(alice, make_slot(), "p")
    assert not result.ok
    assert result.error is not None
    assert len(result.error) < 1000
    assert "exited 1" in result.error


async def test_missing_program_is_a_clear_failure(alice: AgentConfig, tmp_path: Path) -> None:
    waker = SpawnCommandWaker((str(tmp_path / "no-such-launcher"), "{prompt}"))
    result = await waker.wake(alice, make_slot(), "p")
    assert not result.ok
    assert result.error is not None and "could not be started" in result.error


async def test_per_agent_command_overrides_the_global_one(tmp_path: Path) -> None:
    record = tmp_path / "argv.json"
    script = _script(tmp_path, "record.py", RECORDER)
    agent = AgentConfig(
        id="bob", spawn_command=(sys.executable, str(script), str(record), "{agent_id}")
    )
    waker = SpawnCommandWaker(("false",))
    result = await waker.wake(agent, make_slot(agent_id="bob"), "p")
    assert result.ok, result.error
    assert json.loads(record.read_text())["argv"] == ["bob"]
    assert not SpawnCommandWaker(None).can_wake(replace(agent, spawn_command=None))


async def test_the_example_agents_file_command_runs(caplog: pytest.LogCaptureFixture) -> None:
    """agents.example.toml is what a newcomer copies: its command must exist and succeed."""
    bob = next(a for a in load_agents(EXAMPLE_AGENTS) if a.spawn_command)
    caplog.set_level(logging.INFO, logger="bot.wakers.spawn_command")
    result = await SpawnCommandWaker(None).wake(bob, make_slot("slot-ex", agent_id=bob.id), "p")
    assert result.ok, result.error
    assert f"woke {bob.id} for slot slot-ex" in caplog.text
