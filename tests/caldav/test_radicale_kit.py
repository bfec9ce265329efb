"""The test server itself: it comes back on the same port with the same calendars, and a
server that cannot start says why in Radicale's own words."""

from __future__ import annotations

import socket

import pytest

from testkit.radicale import RadicaleFailed, RadicaleServer

from .conftest import client_for, event


async def test_a_restarted_server_keeps_port_and_calendars(own_radicale: RadicaleServer) -> None:
    home = own_radicale.add_user()
    client = client_for(home)
    try:
        cal = await client.make_collection("agent-a", "agent-a")
        etag = await client.put(cal.href + "a.ics", event("a"), etag=None)
        port = own_radicale.port
        own_radicale.restart()
        assert own_radicale.port == port
        got = await client.get(cal.href + "a.ics")
        assert got is not None and got.etag == etag
    finally:
        await client.close()


def test_a_server_that_cannot_start_fails_with_its_log() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        server = RadicaleServer(port=taken.getsockname()[1])
        try:
            with pytest.raises(RadicaleFailed) as caught:
                server.start()
        finally:
            server.remove()
    assert "exited with status" in str(caught.value)
    assert "address already in use" in str(caught.value).lower()
