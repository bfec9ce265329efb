"""`calendar add` held to DESIGN §3.2 like a REST create: hostile options, the embedded calendar.

Each refusal is one `error:` line naming the option to change, exit 2 for a
usage error (nothing opened, no file created) or 1 for the calendar's own
refusal (the file may exist, but holds no slot); the next good `add` works.
The same table against a served calendar is in test_calendar_add_served.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.cli_shell import AGENTS, GOOD_ADD, calendar, clean_shell, stored_titles

#: (case id, options changed from GOOD_ADD (None drops one), option named, exit code)
Hostile = tuple[str, dict[str, str | None], str, int]


def _usage_errors(
    option: str, values: dict[str, str], *, replacing: str | None = None
) -> list[Hostile]:
    """One option's usage errors (exit 2, the option named), so each group states them once;
    a row's id is the option and the value's name (`priority-decimal`). `replacing` drops the
    GOOD_ADD option this one stands in for (`--in` for `--at`: the two are not allowed together)."""
    dropped: dict[str, str | None] = {} if replacing is None else {replacing: None}
    return [
        (f"{option.removeprefix('--')}-{name}", {**dropped, option: value}, option, 2)
        for name, value in values.items()
    ]


HOSTILE: list[Hostile] = [
    *_usage_errors(
        "--priority",
        {
            "decimal": "50.0",
            "plus": "+50",
            "underscore": "5_0",
            "spaces": " 50 ",
            "101": "101",
            "negative": "-1",
            "huge": "9" * 5000,
            "bool": "true",
        },
    ),
    *_usage_errors("--duration", {"0": "0", "10081": "10081", "exponent": "1e3"}),
    *_usage_errors("--title", {"201": "x" * 201, "lone-surrogate": "bad \udcff bytes"}),
    *_usage_errors("--prompt", {"16001": "p" * 16_001}),
    *_usage_errors(
        "--type",
        {"uppercase": "Work", "empty": "", "33": "a" * 33, "space": "deep work", "unicode": "wörk"},
    ),
    *_usage_errors(
        "--agent",
        {"uppercase": "Alice", "empty": "", "33": "a" * 33, "path": "../etc", "mention": "<@123>"},
    ),
    *_usage_errors(
        "--at",
        {
            "epoch": "1700000000",
            "date-only": "2099-01-05",
            "words": "tomorrow",
            "month-13": "2099-13-01T09:00",
            "offset-25h": "2099-01-05T09:00+25:00",
            "year-9999": "9999-06-01T00:00+08:00",
            "year-9999-naive": "9999-12-31T23:30",
            "9999-once-in-utc": "9998-12-31T23:30-05:00",
            "year-1": "0001-01-01T00:00Z",
        },
    ),
    *_usage_errors(
        "--in",
        {"overflow": "99999999d", "past-9998": "3000000d", "exponent": "1e9s", "negative": "-5m"},
        replacing="--at",
    ),
    # `--in` beside GOOD_ADD's `--at`: the usage error is the pair, not either option.
    ("at-and-in", {"--in": "5m"}, "not allowed", 2),
    # The calendar's own refusals (exit 1).
    ("unknown-agent", {"--agent": "zed"}, "--agent", 1),
    ("in-the-past", {"--at": "2020-01-01T00:00Z"}, "--at", 1),
]


#: Each HOSTILE row as one test case named by its id (here and against a served calendar).
hostile_adds = pytest.mark.parametrize(
    ("changes", "names", "code"), [case[1:] for case in HOSTILE], ids=[c[0] for c in HOSTILE]
)


def add_args(changes: dict[str, str | None]) -> list[str]:
    options = dict(zip(GOOD_ADD[::2], GOOD_ADD[1::2], strict=True))
    for option, value in changes.items():
        if value is None:
            options.pop(option, None)
        else:
            options[option] = value
    return ["add", *(part for pair in options.items() for part in pair)]


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    clean_shell(monkeypatch, tmp_path)
    (tmp_path / "agents.toml").write_text(AGENTS, encoding="utf-8")
    return tmp_path


@hostile_adds
def test_a_hostile_add_is_one_line_naming_the_option_and_stores_nothing(
    shell: Path,
    capsys: pytest.CaptureFixture[str],
    changes: dict[str, str | None],
    names: str,
    code: int,
) -> None:
    refused = calendar(capsys, *add_args(changes))
    line = refused.one_line_error()
    assert refused.code == code, line
    assert names in line
    assert refused.out == ""
    if code == 2:  # a usage error: refused before the calendar is even opened
        assert not (shell / "calendar.db").exists()
    assert stored_titles(shell / "calendar.db") == []
    # Nothing was left half done: the same calendar takes the next good slot.
    good = calendar(capsys, *add_args({}))
    assert good.code == 0, good.err
    assert stored_titles(shell / "calendar.db") == ["t"]


def test_the_past_refusal_says_how_and_allow_past_records_it(
    shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    past = {"--at": "2020-01-01T09:00+08:00", "--title": "history"}
    refused = calendar(capsys, *add_args(past))
    line = refused.one_line_error()
    assert refused.code == 1
    assert "--at: 2020-01-01 09:00 Asia/Shanghai is more than an hour in the past" in line
    assert "--allow-past" in line and '"allow_past"' not in line  # the CLI's words, not JSON's
    assert stored_titles(shell / "calendar.db") == []
    recorded = calendar(capsys, *add_args(past), "--allow-past")
    assert recorded.code == 0, recorded.err
    assert stored_titles(shell / "calendar.db") == ["history"]
    listed = calendar(capsys, "list", "--date", "2020-01-01")
    assert recorded.out.strip() in listed.out and "09:00" in listed.out


def test_within_the_hour_is_not_the_past(shell: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A slot a few minutes late (typed a moment too slowly) is taken without --allow-past."""
    ran = calendar(capsys, *add_args({"--at": None, "--in": "0s", "--title": "now"}))
    assert ran.code == 0, ran.err
    assert stored_titles(shell / "calendar.db") == ["now"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("p" * 16_001, "longer than 16000 characters"),
        ("é" * 16_001, "longer than 16000 characters"),
        ("x" * 5_000_000, "longer than 16000 characters"),
        (b"\xff\xfe not utf-8", "not UTF-8 text"),
    ],
    ids=["16001-chars", "16001-two-byte-chars", "5-MB", "not-utf8"],
)
def test_a_bad_prompt_file_is_refused_naming_it(
    shell: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, says: str
) -> None:
    prompt = shell / "prompt.txt"
    if isinstance(content, bytes):
        prompt.write_bytes(content)
    else:
        prompt.write_text(content, encoding="utf-8")
    refused = calendar(capsys, *add_args({"--prompt": None, "--prompt-file": str(prompt)}))
    line = refused.one_line_error()
    assert refused.code == 2 and "--prompt-file" in line and says in line
    assert not (shell / "calendar.db").exists()


@pytest.mark.parametrize("where", ["/dev/zero", "DIRECTORY", "MISSING"])
def test_a_prompt_file_that_is_no_file_is_refused(
    shell: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    path = {"DIRECTORY": str(shell), "MISSING": str(shell / "nope.txt")}.get(where, where)
    refused = calendar(capsys, *add_args({"--prompt": None, "--prompt-file": path}))
    line = refused.one_line_error()
    assert refused.code == 2 and f"--prompt-file: {path}" in line
    assert not (shell / "calendar.db").exists()


def test_a_prompt_file_of_exactly_the_limit_is_kept_whole(
    shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompt = shell / "prompt.txt"
    prompt.write_text("ü" * 16_000, encoding="utf-8")
    ran = calendar(capsys, *add_args({"--prompt": None, "--prompt-file": str(prompt)}))
    assert ran.code == 0, ran.err
    import sqlite3

    with sqlite3.connect(shell / "calendar.db") as db:
        [(kept,)] = db.execute("SELECT prompt FROM slots").fetchall()
    assert kept == "ü" * 16_000


def test_a_wall_time_the_zone_skips_is_refused(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIMEZONE", "America/New_York")
    refused = calendar(capsys, *add_args({"--at": "2099-03-08T02:30"}))
    assert refused.code == 2
    assert "does not exist in America/New_York" in refused.one_line_error()
    # The hour after the gap, and the ambiguous autumn hour (the earlier instant), are fine.
    assert calendar(capsys, *add_args({"--at": "2099-03-08T03:30"})).code == 0
    assert calendar(capsys, *add_args({"--at": "2099-11-01T01:30"})).code == 0


def test_without_an_agents_file_any_agent_id_is_taken(
    shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (shell / "agents.toml").unlink()
    ran = calendar(capsys, *add_args({"--agent": "zed"}))
    assert ran.code == 0, ran.err


def test_a_broken_agents_file_is_exit_2_naming_it(
    shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (shell / "agents.toml").write_text("[[agents]]\nid = 5\n", encoding="utf-8")
    refused = calendar(capsys, *add_args({}))
    assert refused.code == 2 and "AGENTS_FILE" in refused.one_line_error()
    assert stored_titles(shell / "calendar.db") == []
