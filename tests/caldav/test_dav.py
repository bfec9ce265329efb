"""The CalDAV client against a real Radicale: the home, collections, and conditional writes.

What Radicale answers (3.9, found by these tests): a wrong password is 401; a
home path that does not exist under one's own principal (`/u1/missing/`) is
404; another user's home (`/u2/` as u1) is 403, which the client reports as
refused credentials, since they do not open that home; MKCALENDAR on an
existing collection is 409 DAV:resource-must-be-null (RFC 4791 says 405);
every PUT answer carries the new ETag; a body that is not iCalendar is
refused with 400.
"""

from __future__ import annotations

import socket

import pytest

from bot.calendar.caldav.dav import (
    Collection,
    DavAuthFailed,
    DavClient,
    DavError,
    DavHomeMissing,
    DavUnreachable,
    PreconditionFailed,
)
from testkit.radicale import DavHome, RadicaleServer

from .conftest import client_for, event


async def test_the_home_is_checked_and_empty(dav: DavClient) -> None:
    await dav.check_home()
    assert await dav.collections() == []
    assert dav.requests == 2


async def test_a_wrong_password_is_refused_without_saying_it(dav_home: DavHome) -> None:
    wrong = "not-the-password-51c2"
    client = DavClient(dav_home.url, username=dav_home.username, password=wrong)
    try:
        with pytest.raises(DavAuthFailed) as caught:
            await client.check_home()
        with pytest.raises(DavAuthFailed):
            await client.collections()
    finally:
        await client.close()
    text = str(caught.value)
    assert "CALENDAR_USERNAME/CALENDAR_PASSWORD (401)" in text
    assert wrong not in text and dav_home.password not in text
    assert caught.value.code == "unauthorized"


async def test_a_missing_home_names_its_path(dav_home: DavHome) -> None:
    # A typo in the path under one's own principal: Radicale answers 404.
    client = client_for(
        DavHome(dav_home.url + "calendars/", dav_home.username, dav_home.password, dav_home.storage)
    )
    try:
        with pytest.raises(DavHomeMissing) as caught:
            await client.check_home()
    finally:
        await client.close()
    assert f"/{dav_home.username}/calendars/" in str(caught.value)
    assert "404" in str(caught.value)
    assert dav_home.password not in str(caught.value)


async def test_another_users_home_is_refused(radicale: RadicaleServer, dav_home: DavHome) -> None:
    # Radicale's owner_only rights: u1 on /u2/ gets 403, the credentials do not open that home.
    other = radicale.add_user()
    client = DavClient(other.url, username=dav_home.username, password=dav_home.password)
    try:
        with pytest.raises(DavAuthFailed, match=r"\(403\)"):
            await client.check_home()
    finally:
        await client.close()


async def test_a_home_url_naming_an_event_is_no_home(dav: DavClient, dav_home: DavHome) -> None:
    cal = await dav.make_collection("agent-a", "agent-a")
    await dav.put(cal.href + "e.ics", event("e"), etag=None)
    client = client_for(
        DavHome(
            dav_home.url + "agent-a/e.ics", dav_home.username, dav_home.password, dav_home.storage
        )
    )
    try:
        with pytest.raises(DavHomeMissing, match="not a collection"):
            await client.check_home()
    finally:
        await client.close()


async def test_an_unreachable_server_names_host_and_port_only(
    own_radicale: RadicaleServer,
) -> None:
    home = own_radicale.add_user()
    own_radicale.stop()
    client = client_for(home, timeout_s=5)
    url_with_userinfo = home.url.replace("http://", f"http://{home.username}:{home.password}@")
    with_userinfo = DavClient(url_with_userinfo, username=None, password=None)
    try:
        with pytest.raises(DavUnreachable) as caught:
            await client.check_home()
        with pytest.raises(DavUnreachable) as caught_too:
            await with_userinfo.check_home()
        own_radicale.start()  # the same port and folder: the server is back
        await client.check_home()
        await with_userinfo.check_home()  # credentials taken from the URL's userinfo
    finally:
        await client.close()
        await with_userinfo.close()
    for exc in (caught.value, caught_too.value):
        assert f"127.0.0.1:{own_radicale.port}" in str(exc)
        assert home.password not in str(exc)
        assert exc.code == "unavailable"


async def test_make_collection_twice_gives_the_same_collection(dav: DavClient) -> None:
    first = await dav.make_collection("agent-a", "Agent A")
    again = await dav.make_collection("agent-a", "Agent A")
    assert first == again == Collection(dav.home + "agent-a/", "agent-a", "Agent A")
    odd = await dav.make_collection("team b", "Team B")
    assert odd.href == dav.home + "team%20b/"
    listed = sorted(await dav.collections(), key=lambda c: c.href)
    assert listed == [first, odd]
    with pytest.raises(DavError):
        await dav.make_collection("a/b", "nested")


async def test_conditional_writes(dav: DavClient) -> None:
    cal = await dav.make_collection("agent-a", "agent-a")
    href = cal.href + "one.ics"
    etag = await dav.put(href, event("one"), etag=None)
    assert etag.startswith('"') and etag.endswith('"')
    with pytest.raises(PreconditionFailed):
        await dav.put(href, event("one", "again"), etag=None)  # create only: it exists
    with pytest.raises(PreconditionFailed):
        await dav.put(href, event("one", "stale"), etag='"not-the-etag"')
    got = await dav.get(href)
    assert got is not None and got.etag == etag and "SUMMARY:write the report" in got.text
    newer = await dav.put(href, event("one", "changed"), etag=etag)
    assert newer != etag
    got = await dav.get(href)
    assert got is not None and got.etag == newer and "SUMMARY:changed" in got.text
    with pytest.raises(PreconditionFailed):
        await dav.delete(href, etag=etag)  # the old ETag no longer holds
    await dav.delete(href, etag=newer)
    assert await dav.get(href) is None
    await dav.delete(href, etag=None)  # already gone is fine


async def test_a_body_that_is_not_icalendar_is_refused(dav: DavClient) -> None:
    # Radicale refuses it (400): nothing is stored.
    cal = await dav.make_collection("agent-a", "agent-a")
    with pytest.raises(DavError, match="400"):
        await dav.put(cal.href + "junk.ics", "this is not a calendar\r\n", etag=None)
    assert await dav.get(cal.href + "junk.ics") is None


async def test_hrefs_outside_the_home_are_refused(dav: DavClient, dav_home: DavHome) -> None:
    for href in ("/other/cal/x.ics", "http://example.org/u1/x.ics", "/../x.ics"):
        with pytest.raises(DavError, match="not under the calendar home"):
            await dav.get(href)
    assert dav.requests == 0


async def test_a_server_that_never_answers_times_out(dav_home: DavHome) -> None:
    # A listening socket nobody accepts from: the connection opens, no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        client = DavClient(
            f"http://127.0.0.1:{port}/{dav_home.username}/",
            username=dav_home.username,
            password=dav_home.password,
            timeout_s=0.5,
        )
        try:
            with pytest.raises(DavUnreachable, match=r"did not answer PROPFIND .* within 0.5 s"):
                await client.check_home()
        finally:
            await client.close()
    assert client.requests == 1
