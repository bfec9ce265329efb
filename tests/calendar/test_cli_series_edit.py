"""`calendar add --repeat`, `edit`, `cancel`, `series list|end` as a person runs them (DESIGN §9).

Real processes on a real file and on the real server over loopback. A bad value
is one line naming its option and exit 2; a refusal by the calendar is one line
and exit 1; either way nothing is stored or changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.models import Action, SlotStatus
from tests.calendar.conftest import TOKEN, TZ, Served
from tests.calendar.test_cli import Run, bot

FIRST = "2099-03-02T09:00"


def one_line_error(run: Run, code: int, says: str) -> None:
    assert run.code == code, (run.out, run.err)
    assert "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1, run.err
    assert run.err.startswith("error:") and says in run.err, run.err


async def stored(tmp_path: Path) -> tuple[list[str], list[str]]:
    """The slot and series ids in the file (none when it was never created)."""
    path = tmp_path / "calendar.db"
    if not path.exists():
        return [], []
    store = await EmbeddedCalendar.open(path, timezone=TZ)
    try:
        slots = [slot.id for slot in await store.list_slots()]
        return slots, [series.id for series in await store.list_series()]
    finally:
        await store.close()


async def test_a_repeat_makes_a_series_listed_with_its_next_times_and_ended(
    tmp_path: Path,
) -> None:
    added = await bot(
        tmp_path, "add", "--agent", "ada", "--at", FIRST, "--repeat", "weekdays",
        "--title", "Stand-up", "--prompt", "report",
    )  # fmt: skip
    assert added.code == 0, added.err
    series_id = added.out.strip()
    assert "2099-03-02 09:00, 2099-03-03 09:00, 2099-03-04 09:00" in added.err
    listed = await bot(tmp_path, "series", "list", "--agent", "ada")
    assert listed.code == 0, listed.err
    assert series_id in listed.out and "running" in listed.out
    assert "2099-03-02 09:00, 2099-03-03 09:00, 2099-03-04 09:00" in listed.out
    day = await bot(tmp_path, "list", "--date", "2099-03-03")
    assert day.code == 0, day.err
    assert f"{series_id}_20990303T090000" in day.out and "Stand-up" in day.out
    ended = await bot(tmp_path, "series", "end", series_id)
    assert ended.code == 0, ended.err
    after = await bot(tmp_path, "series", "list")
    assert "ended" in after.out and "none" in after.out


async def test_edit_then_cancel_a_slot_and_the_refusals_that_follow(tmp_path: Path) -> None:
    added = await bot(
        tmp_path, "add", "--agent", "ada", "--at", FIRST, "--title", "One", "--prompt", "p"
    )
    slot_id = added.out.strip()
    edited = await bot(
        tmp_path, "edit", slot_id, "--at", "2099-03-02T11:30", "--title", "Two",
        "--priority", "90", "--duration", "45", "--expected-version", "1",
    )  # fmt: skip
    assert edited.code == 0, edited.err
    stale = await bot(tmp_path, "edit", slot_id, "--title", "Three", "--expected-version", "1")
    one_line_error(stale, 1, "--expected-version")
    cancelled = await bot(tmp_path, "cancel", slot_id, "--note", "not needed")
    assert cancelled.code == 0, cancelled.err
    again = await bot(tmp_path, "cancel", slot_id)
    one_line_error(again, 1, "CANCELLED")
    late_edit = await bot(tmp_path, "edit", slot_id, "--title", "Four")
    one_line_error(late_edit, 1, "refused the edit")
    store = await EmbeddedCalendar.open(tmp_path / "calendar.db", timezone=TZ)
    try:
        slot = await store.get_slot(slot_id)
    finally:
        await store.close()
    assert (slot.title, slot.priority, slot.estimated_duration_min) == ("Two", 90, 45)
    assert slot.status is SlotStatus.CANCELLED and slot.note == "not needed"
    assert f"{slot.scheduled_at.astimezone(TZ):%H:%M}" == "11:30"


async def test_a_running_or_finished_slot_is_not_edited_or_cancelled(tmp_path: Path) -> None:
    added = await bot(
        tmp_path, "add", "--agent", "ada", "--at", FIRST, "--title", "One", "--prompt", "p"
    )
    slot_id = added.out.strip()
    store = await EmbeddedCalendar.open(tmp_path / "calendar.db", timezone=TZ)
    try:
        await store.transition(slot_id, Action.START)
    finally:
        await store.close()
    one_line_error(await bot(tmp_path, "edit", slot_id, "--title", "x"), 1, "nothing was changed")
    store = await EmbeddedCalendar.open(tmp_path / "calendar.db", timezone=TZ)
    try:
        await store.transition(slot_id, Action.COMPLETE)
    finally:
        await store.close()
    one_line_error(await bot(tmp_path, "cancel", slot_id), 1, "FINISHED")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--repeat", "fortnightly"], "--repeat"),
        (["--repeat", "FREQ=MINUTELY"], "--repeat"),
        (["--repeat", "FREQ=HOURLY;BYSECOND=5"], "--repeat"),
        (["--repeat", "FREQ=DAILY;COUNT=0"], "--repeat"),
        (["--repeat", "FREQ=DAILY;UNTIL=20990101T000000Z"], "--repeat"),
        (["--repeat", "FREQ=DAILY;" + "BYHOUR=1;" * 400], "--repeat"),
        (["--repeat", "daily", "--priority", "1e3"], "--priority"),
    ],
)
async def test_a_bad_repeat_is_one_line_exit_2_and_stores_nothing(
    tmp_path: Path, args: list[str], says: str
) -> None:
    run = await bot(
        tmp_path, "add", "--agent", "ada", "--at", FIRST, "--title", "t", "--prompt", "p", *args
    )
    one_line_error(run, 2, says)
    assert await stored(tmp_path) == ([], [])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["edit", "s1"], "nothing to change"),
        (["edit", "s1", "--priority", "fifty"], "--priority"),
        (["edit", "s1", "--priority", "101"], "--priority"),
        (["edit", "s1", "--duration", "99999999999999"], "--duration"),
        (["edit", "s1", "--expected-version", "-1", "--title", "t"], "--expected-version"),
        (["edit", "s1", "--at", "1700000000"], "--at"),
        (["edit", "s1", "--in", "99999999999d"], "--in"),
        (["edit", "s1", "--title", "x" * 201], "--title"),
        (["edit", "x" * 300, "--title", "t"], "SLOT_ID"),
        (["cancel", "s1", "--note", "n" * 16001], "--note"),
        (["series", "list", "--agent", "no spaces"], "--agent"),
        (["series", "end", "x" * 300], "SERIES_ID"),
        (["series", "stop", "s1"], "invalid choice"),
    ],
)
async def test_hostile_options_are_one_line_exit_2(
    tmp_path: Path, args: list[str], says: str
) -> None:
    one_line_error(await bot(tmp_path, *args), 2, says)
    assert await stored(tmp_path) == ([], [])


async def test_unknown_ids_are_refused_in_one_line_exit_1(tmp_path: Path) -> None:
    await bot(tmp_path, "add", "--agent", "ada", "--at", FIRST, "--title", "t", "--prompt", "p")
    before = await stored(tmp_path)
    one_line_error(await bot(tmp_path, "edit", "nope", "--title", "t"), 1, "SLOT_ID")
    one_line_error(await bot(tmp_path, "cancel", "nope"), 1, "SLOT_ID")
    one_line_error(await bot(tmp_path, "series", "end", "nope"), 1, "SERIES_ID")
    assert await stored(tmp_path) == before


async def test_every_command_against_a_served_calendar(
    tmp_path: Path, serve: Callable[..., Awaitable[Served]], store: EmbeddedCalendar
) -> None:
    served = await serve(token=TOKEN)
    remote = {"CALENDAR_URL": served.base_url, "CALENDAR_TOKEN": TOKEN}
    added = await bot(
        tmp_path, "add", "--agent", "alice", "--at", "2099-01-05T09:00+08:00", "--title", "Remote",
        "--prompt", "p", **remote,
    )  # fmt: skip
    assert added.code == 0, added.err
    assert [s.id for s in await store.list_slots()] == [added.out.strip()]
    needs_agent = await bot(tmp_path, "list", "--date", "2099-01-05", **remote)
    assert needs_agent.code == 2 and "--agent" in needs_agent.err
    day_one = await bot(tmp_path, "list", "--date", "2099-01-05", "--agent", "alice", **remote)
    assert day_one.code == 0, day_one.err
    assert "09:00" in day_one.out and "Remote" in day_one.out
    made = await bot(
        tmp_path, "add", "--agent", "ada", "--at", "2099-01-05T09:00", "--repeat", "daily",
        "--title", "Daily", "--prompt", "p", **remote,
    )  # fmt: skip
    assert made.code == 0, made.err
    series_id = made.out.strip()
    assert [s.id for s in await store.list_series()] == [series_id]
    listed = await bot(tmp_path, "series", "list", **remote)
    assert listed.code == 0 and series_id in listed.out, listed.err
    day = await bot(tmp_path, "list", "--agent", "ada", "--date", "2099-01-06", **remote)
    assert f"{series_id}_20990106T090000" in day.out, day.err
    bad = await bot(
        tmp_path, "add", "--agent", "ada", "--at", FIRST, "--repeat", "FREQ=MINUTELY",
        "--title", "t", "--prompt", "p", **remote,
    )  # fmt: skip
    one_line_error(bad, 2, "--repeat")
    single = await bot(
        tmp_path, "add", "--agent", "ada", "--at", FIRST, "--title", "t", "--prompt", "p", **remote
    )
    slot_id = single.out.strip()
    assert (await bot(tmp_path, "edit", slot_id, "--title", "moved", **remote)).code == 0
    stale = await bot(
        tmp_path, "edit", slot_id, "--title", "x", "--expected-version", "1", **remote
    )
    one_line_error(stale, 1, "--expected-version")
    assert (await bot(tmp_path, "cancel", slot_id, **remote)).code == 0
    one_line_error(await bot(tmp_path, "cancel", slot_id, **remote), 1, "refused the cancel")
    assert (await bot(tmp_path, "series", "end", series_id, **remote)).code == 0
    one_line_error(await bot(tmp_path, "series", "end", "nope", **remote), 1, "SERIES_ID")
    assert (await store.get_slot(slot_id)).status is SlotStatus.CANCELLED
    assert (await store.get_series(series_id)).ended_at is not None
    runs = [added, day_one, made, listed, stale]
    assert TOKEN not in "".join(run.out + run.err for run in runs)
