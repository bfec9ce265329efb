"""The CalDAV backend's files beside STATE_PATH: its ledger and its copy of the calendars.

Both only save work (the ledger's `first_seen` aside), so the rules are: what the
ledger saves comes back; an unreadable ledger or a corrupt copy of ours is set
aside for the user, never deleted or overwritten in place; a file that is not ours
is refused untouched; a ledger save that fails is logged once and the polls go on;
and with a real Radicale, a moderator opened beside a broken file still copies
the calendar.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import string
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.calendar.caldav import ledger as ledger_module
from bot.calendar.caldav.ledger import CollectionMark, Ledger
from bot.calendar.ics.convert import stable_id
from bot.core.clock import FakeClock
from bot.core.sqlite_file import DatabaseFileRefused
from testkit.files import corrupt_page
from testkit.radicale import DavHome
from tests.caldav.app import CalendarApp, event, ics_time
from tests.caldav.conftest import open_calendar

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
JOB_AT = NOW + timedelta(minutes=10)
GOOD_MARK = {"href": "/u/ada/", "first_seen": "2026-12-01T08:00:00+00:00"}

#: (case, the file's bytes): none of them is a ledger.
NOT_LEDGERS: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("not-json", b"{ada: yes"),
    ("binary", bytes(range(256))),
    ("latin-1", '{"adá": 1}'.encode("latin-1")),
    ("a-list", b'[{"href": "/u/ada/"}]'),
    ("a-number", b"7"),
    ("null", b"null"),
    ("mark-not-object", b'{"ada": "/u/ada/"}'),
    ("mark-a-list", b'{"ada": ["/u/ada/", "2026-12-01T08:00:00+00:00"]}'),
    ("href-a-number", json.dumps({"ada": {**GOOD_MARK, "href": 5}}).encode()),
    (
        "first-seen-naive",
        json.dumps({"ada": {**GOOD_MARK, "first_seen": "2026-12-01T08:00"}}).encode(),
    ),
    ("first-seen-words", json.dumps({"ada": {**GOOD_MARK, "first_seen": "last week"}}).encode()),
    ("first-seen-a-number", json.dumps({"ada": {**GOOD_MARK, "first_seen": 1700000000}}).encode()),
    ("unknown-field", json.dumps({"ada": {**GOOD_MARK, "owner": "eve"}}).encode()),
    ("missing-field", json.dumps({"ada": {"href": "/u/ada/"}}).encode()),
    ("deeply-nested", b"[" * 100_000 + b"]" * 100_000),
    ("deeply-nested-in-a-mark", b'{"ada": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
]


def aside_files(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f"{name}.corrupt-*"))


@pytest.mark.parametrize(("case", "content"), NOT_LEDGERS, ids=[c for c, _ in NOT_LEDGERS])
def test_a_file_that_is_no_ledger_is_set_aside_whole_and_a_new_one_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str, content: bytes
) -> None:
    path = tmp_path / "copy.ledger.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger=ledger_module.__name__):
        ledger = Ledger(path, NOW)
    assert ledger.marks == {}
    [aside] = aside_files(tmp_path, path.name)
    assert aside.read_bytes() == content  # the user's bytes, untouched, to look at
    assert not path.exists()
    assert f"set aside as {aside.name}" in caplog.text
    ledger.marks["ada"] = CollectionMark("/u/ada/", NOW.isoformat())
    ledger.save()
    assert Ledger(path, NOW).marks == ledger.marks


@pytest.mark.parametrize("token", ["t-1", None, 12, {"a": [1]}])
def test_an_earlier_versions_file_is_read_without_its_sync_tokens(
    tmp_path: Path, token: object
) -> None:
    """Tokens were saved once; a process lists each collection whole before using one."""
    path = tmp_path / "copy.ledger.json"
    path.write_text(json.dumps({"ada": {**GOOD_MARK, "token": token}}), encoding="utf-8")
    ledger = Ledger(path, NOW)
    assert ledger.marks == {"ada": CollectionMark(GOOD_MARK["href"], GOOD_MARK["first_seen"])}
    assert aside_files(tmp_path, path.name) == []
    ledger.save()
    assert "token" not in path.read_text(encoding="utf-8")


def test_a_file_past_the_bound_is_not_read_into_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "copy.ledger.json"
    good = {f"agent{n}": GOOD_MARK for n in range(50)}
    path.write_text(json.dumps(good), encoding="utf-8")
    monkeypatch.setattr(ledger_module, "MAX_LEDGER_BYTES", path.stat().st_size - 1)
    with caplog.at_level(logging.WARNING, logger=ledger_module.__name__):
        assert Ledger(path, NOW).marks == {}
    assert "larger than" in caplog.text
    assert len(aside_files(tmp_path, path.name)) == 1


def test_two_broken_files_in_one_second_are_both_kept(tmp_path: Path) -> None:
    path = tmp_path / "copy.ledger.json"
    for content in (b"first", b"second"):
        path.write_bytes(content)
        Ledger(path, NOW)
    kept = sorted(p.read_bytes() for p in aside_files(tmp_path, path.name))
    assert kept == [b"first", b"second"]


def test_a_directory_in_the_way_is_left_alone_and_saves_fail_quietly_until_it_is_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "copy.ledger.json"
    path.mkdir()
    (path / "the-users-file").write_text("mine", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger=ledger_module.__name__):
        ledger = Ledger(path, NOW)
        ledger.marks["ada"] = CollectionMark("/u/ada/", NOW.isoformat())
        ledger.save()
        ledger.save()
        assert (path / "the-users-file").read_text(encoding="utf-8") == "mine"
        assert caplog.text.count("could not be saved") == 1  # once, not once a poll
        (path / "the-users-file").unlink()
        path.rmdir()
        ledger.save()
    assert "saved again" in caplog.text
    assert Ledger(path, NOW).marks == ledger.marks


def test_a_dangling_link_is_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "copy.ledger.json"
    target = tmp_path / "elsewhere" / "target.json"
    path.symlink_to(target)
    ledger = Ledger(path, NOW)
    assert ledger.marks == {}
    ledger.marks["ada"] = CollectionMark("/u/ada/", NOW.isoformat())
    ledger.save()
    assert not target.exists() and not path.is_symlink()
    assert Ledger(path, NOW).marks == ledger.marks


def test_a_crash_before_the_rename_leaves_the_old_ledger(tmp_path: Path) -> None:
    path = tmp_path / "copy.ledger.json"
    ledger = Ledger(path, NOW)
    ledger.marks["ada"] = CollectionMark("/u/ada/", NOW.isoformat())
    ledger.save()
    # What a crash mid-save leaves: a half-written temporary beside the ledger.
    path.with_name(path.name + ".tmp").write_text('{"ada": {"hr', encoding="utf-8")
    assert Ledger(path, NOW).marks == ledger.marks
    ledger.marks["bob"] = CollectionMark("/u/bob/", NOW.isoformat())
    ledger.save()
    assert set(Ledger(path, NOW).marks) == {"ada", "bob"}


_text = st.text(string.ascii_letters + string.digits + '/-_.~%:é\u2028"\\', max_size=40)
_moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_marks = st.dictionaries(
    _text,
    st.builds(CollectionMark, href=_text, first_seen=_moments.map(lambda at: at.isoformat())),
    max_size=5,
)


@given(marks=_marks)
def test_whatever_is_saved_is_read_back(
    tmp_path_factory: pytest.TempPathFactory, marks: dict[str, CollectionMark]
) -> None:
    path = tmp_path_factory.mktemp("ledger") / "copy.ledger.json"
    ledger = Ledger(path, NOW)
    ledger.marks = dict(marks)
    ledger.save()
    assert Ledger(path, NOW).marks == marks
    assert not path.with_name(path.name + ".tmp").exists()


@pytest.fixture
async def app(dav_home: DavHome) -> CalendarApp:
    """Ada's calendar, made in the app with one event, "job", at `JOB_AT`."""
    app = CalendarApp(dav_home)
    await app.make_calendar("ada")
    await app.put("ada", "job", event("job", f":{ics_time(JOB_AT)}"))
    return app


async def test_a_moderator_beside_a_broken_ledger_still_copies_the_calendar(
    dav_home: DavHome, app: CalendarApp, tmp_path: Path
) -> None:
    """Radicale: a corrupt ledger costs one full listing, and a ledger that cannot be
    written (a directory in the way) does not stop the polls."""
    clock = FakeClock(start=NOW)
    copy = tmp_path / "copy.db"
    copy.with_suffix(".ledger.json").write_bytes(b"\x00not a ledger")
    other = tmp_path / "other.db"
    other.with_suffix(".ledger.json").mkdir()
    for copy_path in (copy, other):
        calendar = await open_calendar(dav_home, clock, copy_path)
        try:
            later = f"later-{copy_path.stem}"  # made while this one runs: found by a poll
            await app.put("ada", later, event(later, f":{ics_time(JOB_AT)}"))
            await calendar.poll_all()
            for name in ("job", later):
                assert (await calendar.get_slot(stable_id("ada", name))).scheduled_at == JOB_AT
        finally:
            await calendar.close()
    assert len(aside_files(tmp_path, "copy.ledger.json")) == 1
    assert other.with_suffix(".ledger.json").is_dir()


async def test_a_corrupt_copy_of_ours_is_set_aside_and_rebuilt_from_the_events(
    dav_home: DavHome, app: CalendarApp, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(start=NOW)
    copy = tmp_path / "state.db.caldav.db"
    await (await open_calendar(dav_home, clock, copy)).close()
    corrupt_page(copy, "slots")
    content = copy.read_bytes()
    with caplog.at_level(logging.ERROR):
        calendar = await open_calendar(dav_home, clock, copy)
    try:
        assert (await calendar.get_slot(stable_id("ada", "job"))).scheduled_at == JOB_AT
    finally:
        await calendar.close()
    [aside] = aside_files(tmp_path, copy.name)
    assert aside.read_bytes() == content  # kept for a post-mortem
    assert "CalDAV copy" in caplog.text and "rebuilt from the CalDAV" in caplog.text


def _foreign_database(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("INSERT INTO notes VALUES ('mine')")
        db.commit()


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda path: path.write_bytes(b"a note the user keeps here"), "not an SQLite database"),
        (lambda path: path.write_bytes(b"SQLite format 3\x00" + bytes(4096)), "integrity check"),
        (_foreign_database, "not a CalDAV copy's (notes)"),
    ],
    ids=["text", "sqlite-header-only", "another-programs-database"],
)
async def test_a_file_not_ours_at_the_copy_is_refused_untouched_naming_state_path(
    dav_home: DavHome, tmp_path: Path, make: Callable[[Path], object], said: str
) -> None:
    copy = tmp_path / "state.db.caldav.db"
    make(copy)
    content = copy.read_bytes()
    with pytest.raises(DatabaseFileRefused) as refused:
        await open_calendar(dav_home, FakeClock(start=NOW), copy)
    assert str(refused.value).startswith("STATE_PATH: ") and said in str(refused.value)
    assert copy.read_bytes() == content
    assert aside_files(tmp_path, copy.name) == []


async def test_an_empty_copy_is_taken_as_a_new_one(
    dav_home: DavHome, app: CalendarApp, tmp_path: Path
) -> None:
    copy = tmp_path / "state.db.caldav.db"
    copy.write_bytes(b"")
    calendar = await open_calendar(dav_home, FakeClock(start=NOW), copy)
    try:
        assert (await calendar.get_slot(stable_id("ada", "job"))).agent_id == "ada"
    finally:
        await calendar.close()
