"""Finding changes with the CalDAV client against a real Radicale: sync-collection and its limits.

Radicale 3.9 supports sync-collection (RFC 6578): the first call (empty token)
lists every object with a token, later calls only what changed, deletions as
404 responses. A token it does not know (garbage, or one it has expired) is
answered 403 with DAV:valid-sync-token, from which the client starts over with a
full listing. A file in its storage that is not iCalendar is left out of every
listing (Radicale's `skip_broken_item`, with a warning in its own log).
"""

from __future__ import annotations

import logging

import aiohttp
import pytest

from bot.calendar.caldav.dav import DavClient, DavError, SyncAnswer
from testkit.radicale import DavHome, RadicaleServer

from .conftest import client_for, event


def hrefs(answer: SyncAnswer) -> set[str]:
    return {r.href for r in answer.changed}


async def test_first_sync_is_full_then_only_changes(dav: DavClient) -> None:
    cal = await dav.make_collection("agent-a", "agent-a")
    empty = await dav.sync(cal.href, None)
    assert empty.full and empty.changed == [] and empty.removed == [] and empty.token
    kept = await dav.put(cal.href + "kept.ics", event("kept"), etag=None)
    edited = await dav.put(cal.href + "edited.ics", event("edited"), etag=None)
    await dav.put(cal.href + "gone.ics", event("gone"), etag=None)
    first = await dav.sync(cal.href, empty.token)
    assert not first.full and first.removed == []
    assert hrefs(first) == {cal.href + n for n in ("kept.ics", "edited.ics", "gone.ics")}
    by_href = {r.href: r for r in first.changed}
    assert by_href[cal.href + "kept.ics"].etag == kept
    assert "UID:kept" in by_href[cal.href + "kept.ics"].text

    new_etag = await dav.put(cal.href + "edited.ics", event("edited", "moved"), etag=edited)
    await dav.delete(cal.href + "gone.ics", etag=None)
    await dav.put(cal.href + "new.ics", event("new"), etag=None)
    before = dav.requests
    second = await dav.sync(cal.href, first.token)
    assert not second.full and second.token not in (None, first.token)
    assert hrefs(second) == {cal.href + "edited.ics", cal.href + "new.ics"}
    assert {r.href: r.etag for r in second.changed}[cal.href + "edited.ics"] == new_etag
    assert second.removed == [cal.href + "gone.ics"]
    assert dav.requests - before == 2  # one sync-collection, one multiget

    quiet = await dav.sync(cal.href, second.token)
    assert (quiet.changed, quiet.removed, quiet.full) == ([], [], False)
    assert dav.requests - before == 3  # nothing changed: no multiget

    full = await dav.sync(cal.href, None)
    assert full.full and full.removed == []
    assert hrefs(full) == {cal.href + n for n in ("kept.ics", "edited.ics", "new.ics")}


@pytest.mark.parametrize(
    "token", ["garbage", "http://radicale.org/ns/sync/" + "0" * 64], ids=["garbage", "unknown"]
)
async def test_a_refused_token_falls_back_to_a_full_listing(dav: DavClient, token: str) -> None:
    cal = await dav.make_collection("agent-a", "agent-a")
    await dav.put(cal.href + "a.ics", event("a"), etag=None)
    await dav.put(cal.href + "b.ics", event("b"), etag=None)
    answer = await dav.sync(cal.href, token)
    assert answer.full and answer.removed == []
    assert hrefs(answer) == {cal.href + "a.ics", cal.href + "b.ics"}
    assert answer.token and answer.token != token  # a fresh token, from the empty-token sync
    await dav.delete(cal.href + "a.ics", etag=None)
    after = await dav.sync(cal.href, answer.token)
    assert (after.full, after.removed, after.changed) == (False, [cal.href + "a.ics"], [])


async def test_a_broken_file_on_the_server_is_left_out(dav: DavClient, dav_home: DavHome) -> None:
    # Radicale refuses a non-iCalendar PUT (test_dav), so the file is put in its storage
    # behind its back, as a broken sync tool or a hand edit would.
    cal = await dav.make_collection("agent-a", "agent-a")
    await dav.put(cal.href + "good.ics", event("good"), etag=None)
    (dav_home.storage / "agent-a" / "junk.ics").write_text("this is not a calendar\n")
    answer = await dav.sync(cal.href, None)
    assert hrefs(answer) == {cal.href + "good.ics"}
    assert await dav.get(cal.href + "junk.ics") is None


async def test_an_object_over_one_mib_is_skipped_with_a_log_line(
    dav: DavClient, caplog: pytest.LogCaptureFixture
) -> None:
    cal = await dav.make_collection("agent-a", "agent-a")
    await dav.put(cal.href + "small.ics", event("small"), etag=None)
    await dav.put(cal.href + "huge.ics", event("huge", description="x" * (1 << 20)), etag=None)
    with caplog.at_level(logging.WARNING, logger="bot.calendar.caldav"):
        answer = await dav.sync(cal.href, None)
    assert hrefs(answer) == {cal.href + "small.ics"}
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and cal.href + "huge.ics" in skipped[0]


async def test_an_answer_over_the_bound_is_refused(dav_home: DavHome) -> None:
    client = client_for(dav_home, max_answer_bytes=4096)
    try:
        cal = await client.make_collection("agent-a", "agent-a")
        for n in range(3):
            await client.put(
                cal.href + f"e{n}.ics", event(f"e{n}", description="y" * 2000), etag=None
            )
        with pytest.raises(DavError, match="more than 4096 bytes"):
            await client.sync(cal.href, None)
    finally:
        await client.close()


async def test_five_hundred_events_come_back_complete(
    radicale: RadicaleServer, dav: DavClient, dav_home: DavHome
) -> None:
    cal = await dav.make_collection("agent-a", "agent-a")
    # One PUT of a whole calendar onto the collection (Radicale splits it by UID): fast.
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calendar-moderator tests//EN"]
    for n in range(500):
        lines += [
            "BEGIN:VEVENT",
            f"UID:bulk-{n}",
            "DTSTAMP:20260101T000000Z",
            "DTSTART:20260105T090000Z",
            "DURATION:PT30M",
            f"SUMMARY:event {n}",
            "END:VEVENT",
        ]
    body = "\r\n".join([*lines, "END:VCALENDAR", ""]).encode()
    auth = aiohttp.encode_basic_auth(dav_home.username, dav_home.password)
    async with aiohttp.ClientSession() as session:
        put = await session.put(
            radicale.base_url + cal.href,
            data=body,
            headers={"Content-Type": "text/calendar", "Authorization": auth},
        )
        assert put.status == 201
    before = dav.requests
    answer = await dav.sync(cal.href, None)
    assert len(answer.changed) == 500
    summaries = {line for r in answer.changed for line in r.text.splitlines() if "SUMMARY" in line}
    assert summaries == {f"SUMMARY:event {n}" for n in range(500)}
    assert dav.requests - before == 1 + 5  # one sync-collection, multigets of 100


async def test_sync_of_a_missing_collection_names_it(dav: DavClient) -> None:
    # Radicale answers sync-collection on a path that is not there with 404.
    with pytest.raises(DavError, match=r"no collection at /u\d+/nope/ \(404\)"):
        await dav.sync(dav.home + "nope/", None)
    with pytest.raises(DavError, match="not the home"):
        await dav.sync(dav.home, None)
