"""`python -m bot demo`, run as a newcomer runs it: a subprocess in an empty folder.

The summary table is the demo's promise, so the tests read it back: every
slot ends as scripted, the agent with two slots due at once got the higher
priority first, and the slot due while its agent was busy was woken only after
the first one ended. Those are orderings, not timings: the lateness figures
are printed, never asserted (timing belongs in bench/).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app.demo import BASE_PLAN, demo_plan, run_demo
from bot.core.models import Slot, SlotStatus
from bot.core.reply_words import REPLY_HELP
from bot.presenters.reply_answers import acknowledgement

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120
#: "  +2.918s  ": the story's stamp, under which a message's further lines are indented.
STAMP_WIDTH = 11

#: What the script makes of each slot, written out here rather than read from the plan.
SCRIPTED = {
    "Morning scan": ("scout", "FINISHED", "summary posted"),
    "Triage inbox": ("scout", "FINISHED", "4 issues labelled, 1 duplicate closed"),
    "Draft release notes": ("writer", "FINISHED", "paused once"),
    "Update the FAQ": ("writer", "FINISHED", "FAQ updated, 2 entries added"),
    "Review PR #42": ("reviewer", "FINISHED", "approved with two comments"),
    "Deploy to staging": ("reviewer", "ABORTED", "missing credentials"),
}


@dataclass(frozen=True)
class Row:
    order: int | None
    agent: str
    title: str
    priority: int
    due: float
    woken: float | None
    ended: float | None
    status: str
    note: str


def _num(cell: str) -> float | None:
    return None if cell == "-" else float(cell)


def summary(text: str) -> dict[str, Row]:
    """The summary table, by slot title (titles are unique in the demo's plan)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Summary"))
    header = next(i for i in range(start, len(lines)) if lines[i].split()[:2] == ["#", "agent"])
    rows: dict[str, Row] = {}
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        assert len(cells) == 10, f"cannot read summary row: {line!r}"
        order, agent, title, prio, due, woken, _late, ended, status, note = cells
        assert title not in rows, f"slot {title!r} listed twice"
        rows[title] = Row(
            order=None if order == "-" else int(order),
            agent=agent,
            title=title,
            priority=int(prio),
            due=float(due),
            woken=_num(woken),
            ended=_num(ended),
            status=status,
            note=note,
        )
    return rows


def _slot(title: str, status: SlotStatus) -> Slot:
    """A slot as the acknowledgement sees it: only its title and status are worded."""
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    return Slot(id="x", agent_id="a", scheduled_at=at, status=status, title=title, updated_at=at)


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "DISCORD_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT_S,
        check=False,
    )


def workdir_of(text: str) -> Path:
    match = re.search(r"state file in (\S+) \(deleted at the end\)", text)
    assert match, "the demo does not say where its throw-away files are"
    return Path(match.group(1))


def test_the_scripted_plan_is_the_one_these_tests_expect() -> None:
    assert {s.title: (s.agent, s.expect.value) for s in BASE_PLAN} == {
        title: (agent, status) for title, (agent, status, _) in SCRIPTED.items()
    }


def test_demo_command_shows_the_whole_flow(tmp_path: Path) -> None:
    done = run_cli(tmp_path)
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "ERROR" not in done.stderr, done.stderr

    rows = summary(out)
    assert set(rows) == set(SCRIPTED)
    for title, (agent, status, note) in SCRIPTED.items():
        row = rows[title]
        assert (row.agent, row.status) == (agent, status), row
        assert note in row.note, row
        assert row.woken is not None and row.ended is not None, row
        assert row.woken <= row.ended, row
    assert sorted(r.order for r in rows.values() if r.order is not None) == list(range(1, 7))
    assert "Totals: 6 slots: 5 FINISHED, 1 ABORTED." in out

    # Two scout slots due at the same moment: the higher priority is woken first,
    # the other deferred and woken only once the first has ended.
    high, low = rows["Morning scan"], rows["Triage inbox"]
    assert high.due == low.due and high.priority > low.priority
    assert high.order is not None and low.order is not None and high.order < low.order
    assert "deferred while busy" in low.note and "deferred while busy" not in high.note
    assert high.ended is not None and low.woken is not None and low.woken >= high.ended

    # A writer slot due while writer works on another: deferred, woken once writer is idle.
    first, later = rows["Draft release notes"], rows["Update the FAQ"]
    assert first.ended is not None and later.due < first.ended
    assert "deferred while busy" in later.note
    assert later.woken is not None and later.woken >= first.ended

    # Every wake is printed as in Discord: channel, mention, prompt, reply help.
    boxes = [line for line in out.splitlines() if line.startswith("── #")]
    assert len(boxes) == 6
    assert sum(1 for b in boxes if b.startswith("── #scout-")) == 2
    for agent in ("scout", "writer", "reviewer"):
        assert f"\n@{agent}\n" in out
    assert out.count(REPLY_HELP.splitlines()[0]) == 6
    assert "Scan the three bug feeds" in out

    # The replies went through the first-word rule: a chatty "Done with…" is only progress.
    lines = out.splitlines()
    chatty = next(i for i, line in enumerate(lines) if "Done with the outline" in line)
    # Other agents' events may interleave: the answer is the channel's next line.
    channel = lines[chatty].split("]", 1)[0].split("[", 1)[1]
    answer = next(line for line in lines[chatty + 1 :] if f"[{channel}]" in line)
    assert "progress" in answer

    # The moderator answers in the words the bot posts on Discord (bot.presenters.reply_answers),
    # a long answer's further lines indented under its first.
    said = out.replace("\n" + " " * STAMP_WIDTH, "\n")
    for title, status, note in [
        ("Draft release notes", SlotStatus.PAUSED, "waiting for the changelog from the build"),
        ("Draft release notes", SlotStatus.ONGOING, None),
        ("Morning scan", SlotStatus.FINISHED, "summary posted"),
        ("Deploy to staging", SlotStatus.ABORTED, "missing credentials"),
    ]:
        ack = acknowledgement(_slot(title, status), note)
        assert f"] moderator: {ack}\n" in said, ack

    # Nothing left behind: not in the folder it ran in, not in its temporary folder.
    assert list(tmp_path.iterdir()) == []
    assert not workdir_of(out).exists()


def _default_sigint() -> None:
    # A shell may start background jobs with SIGINT ignored; Python then never raises
    # KeyboardInterrupt. The child gets the default back, as in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child is POSIX")
def test_ctrl_c_stops_summarises_and_cleans_up(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--seconds", "60"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        preexec_fn=_default_sigint,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "woken for" in line:
                break
        assert any("woken for" in line for line in seen), "".join(seen)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    out = "".join(seen) + rest
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert "interrupted: stopping the agents and the moderator" in out
    rows = summary(out)
    assert set(rows) == set(SCRIPTED)
    assert any(r.status != "FINISHED" for r in rows.values())
    assert "Demo interrupted" in out
    assert list(tmp_path.iterdir()) == []
    assert not workdir_of(out).exists()


def test_run_demo_stops_at_the_seconds_bound_and_still_summarises(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handlers_before = list(logging.getLogger().handlers)
    # The reviewer's second slot is due 5 s in: a 3 s bound cannot reach it.
    code = run_demo(agents=3, seconds=3)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "--seconds 3 reached" in captured.out
    rows = summary(captured.out)
    assert set(rows) == set(SCRIPTED)
    assert rows["Deploy to staging"].status == "NOT_STARTED"
    assert rows["Deploy to staging"].woken is None
    assert "still open when the demo stopped" in rows["Deploy to staging"].note
    assert "Demo stopped at the --seconds bound" in captured.out
    assert not workdir_of(captured.out).exists()
    assert logging.getLogger().handlers == handlers_before


def test_one_agent_is_enough_to_show_priority_and_deferral(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run_demo(agents=1, seconds=60, out=None)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = summary(captured.out)
    assert set(rows) == {"Morning scan", "Triage inbox"}
    assert [rows["Morning scan"].order, rows["Triage inbox"].order] == [1, 2]
    assert {r.status for r in rows.values()} == {"FINISHED"}
    assert "Totals: 2 slots: 2 FINISHED." in captured.out


def test_more_agents_get_one_check_in_each() -> None:
    plan = demo_plan(5)
    extra = [s for s in plan if s.agent in ("agent-4", "agent-5")]
    assert [s.title for s in extra] == ["Routine check-in"] * 2
    assert len(plan) == len(BASE_PLAN) + 2


@pytest.mark.parametrize(
    ("agents", "seconds", "message"),
    [
        (0, 10.0, "--agents must be between 1 and 12; got 0"),
        (13, 10.0, "--agents must be between 1 and 12; got 13"),
        (3, 0.0, "--seconds must be a positive number of seconds; got 0"),
        (3, float("inf"), "--seconds must be a positive number of seconds; got inf"),
    ],
)
def test_bad_options_get_a_clear_message(
    agents: int, seconds: float, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(agents=agents, seconds=seconds) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"error: {message}"
    assert captured.out == ""


def test_bad_log_level_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    assert run_demo(agents=1, seconds=5) == 2
    err = capsys.readouterr().err
    assert "LOG_LEVEL must be one of" in err and "CHATTY" in err


def test_no_temporary_folder_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", "/tmp")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    assert run_demo(agents=1, seconds=5) == 1
    captured = capsys.readouterr()
    assert "error: the demo could not make a temporary folder" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_bad_option_through_the_command_line(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "--agents", "0")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --agents must be between 1 and 12; got 0"
    assert list(tmp_path.iterdir()) == []
