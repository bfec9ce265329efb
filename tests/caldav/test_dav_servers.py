"""The CalDAV client against servers that are not Radicale: a proxy in front of it behaving
like them (no sync-collection, absolute hrefs, stray hrefs, no ETag on PUT, redirects)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from bot.calendar.caldav.dav import DavClient, DavError
from testkit.dav_proxy import DavProxy
from testkit.radicale import DavHome, RadicaleServer

from .conftest import event


@pytest.fixture
async def proxy(radicale: RadicaleServer) -> AsyncIterator[DavProxy]:
    proxy = DavProxy(radicale.base_url)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def client(proxy: DavProxy, dav_home: DavHome) -> AsyncIterator[DavClient]:
    client = DavClient(
        proxy.home_url(dav_home.username), username=dav_home.username, password=dav_home.password
    )
    yield client
    await client.close()


@pytest.mark.parametrize("status", [501, 403, 400])
async def test_without_sync_collection_every_sync_is_a_full_listing(
    proxy: DavProxy, client: DavClient, status: int
) -> None:
    cal = await client.make_collection("agent-a", "agent-a")
    await client.put(cal.href + "a.ics", event("a"), etag=None)
    proxy.refuse_sync = status
    before = client.requests
    first = await client.sync(cal.href, None)
    assert (first.full, first.token, first.removed) == (True, None, [])
    assert [r.href for r in first.changed] == [cal.href + "a.ics"]
    assert client.requests - before == 2  # the refused sync-collection, one calendar-query
    await client.delete(cal.href + "a.ics", etag=None)
    await client.put(cal.href + "b.ics", event("b"), etag=None)
    before = client.requests
    second = await client.sync(cal.href, first.token)
    assert (second.full, second.token) == (True, None)
    assert [r.href for r in second.changed] == [cal.href + "b.ics"]
    assert client.requests - before == 1  # no sync-collection asked again


async def test_absolute_hrefs_become_paths(proxy: DavProxy, client: DavClient) -> None:
    proxy.absolute_hrefs = True
    cal = await client.make_collection("agent-a", "agent-a")
    await client.put(cal.href + "a.ics", event("a"), etag=None)
    assert [c.href for c in await client.collections()] == [cal.href]
    answer = await client.sync(cal.href, None)
    assert [r.href for r in answer.changed] == [cal.href + "a.ics"]
    await client.delete(cal.href + "a.ics", etag=None)
    later = await client.sync(cal.href, answer.token)
    assert later.removed == [cal.href + "a.ics"]


@pytest.mark.parametrize(
    "stray",
    [
        "/someone-else/cal/x.ics",
        "http://elsewhere.example/u/agent-a/x.ics",
        "http://user:hunter2@elsewhere.example/x.ics",
        "x/../../y.ics",
    ],
)
async def test_hrefs_outside_the_collection_are_ignored(
    proxy: DavProxy, client: DavClient, caplog: pytest.LogCaptureFixture, stray: str
) -> None:
    cal = await client.make_collection("agent-a", "agent-a")
    await client.put(cal.href + "a.ics", event("a"), etag=None)
    proxy.foreign_href = stray
    with caplog.at_level(logging.WARNING, logger="bot.calendar.caldav"):
        answer = await client.sync(cal.href, None)
        proxy.refuse_sync = 501
        listed = await client.sync(cal.href, None)
    assert [r.href for r in answer.changed] == [cal.href + "a.ics"]
    assert [r.href for r in listed.changed] == [cal.href + "a.ics"]
    assert any("ignored" in r.getMessage() for r in caplog.records)
    assert "hunter2" not in caplog.text


async def test_a_put_answer_without_etag_is_read_back(proxy: DavProxy, client: DavClient) -> None:
    proxy.drop_put_etag = True
    cal = await client.make_collection("agent-a", "agent-a")
    etag = await client.put(cal.href + "a.ics", event("a"), etag=None)
    got = await client.get(cal.href + "a.ics")
    assert got is not None and got.etag == etag


async def test_a_redirect_to_another_server_is_not_followed(
    proxy: DavProxy, client: DavClient, dav_home: DavHome
) -> None:
    proxy.redirect_to = f"http://elsewhere.example/{dav_home.username}/"
    with pytest.raises(DavError, match="another server") as caught:
        await client.check_home()
    assert dav_home.password not in str(caught.value)
    assert proxy.seen == [f"PROPFIND /{dav_home.username}/"]
