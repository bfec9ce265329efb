"""The calendar server's /healthz (open: ok or why not) and /metrics (by route template)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.core.clock import FakeClock
from tests.calendar.conftest import START, TOKEN, TZ, Served

Serve = Callable[..., Awaitable[Served]]
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Agent-Id": "alice"}


def samples(text: str, name: str) -> dict[tuple[str, str], float]:
    """`calendar_requests_total` as {(endpoint, status): count}."""
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[(sample.labels["endpoint"], sample.labels["status"])] = sample.value
    return found


@pytest.fixture
async def base(serve: Serve) -> str:
    """The URL of a server that wants TOKEN on its API (its /healthz never does)."""
    return (await serve(token=TOKEN)).base_url


async def test_healthz_needs_no_token_and_says_only_ok(
    base: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{base}/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}
    # A wrong token changes nothing: the path is open, and says nothing more.
    async with http.get(f"{base}/healthz", headers={"Authorization": "Bearer wrong"}) as resp:
        assert (resp.status, await resp.json()) == (200, {"status": "ok"})


async def test_healthz_is_503_with_the_reason_when_the_storage_is_gone(
    http: aiohttp.ClientSession,
) -> None:
    own = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=FakeClock(start=START))
    runner, port = await start_server(own, "127.0.0.1", 0, token=TOKEN)
    try:
        await own.close()
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            body = await resp.json()
            assert resp.status == 503
            assert body["status"] == "unavailable"
            assert "closed" in body["reason"]
            assert TOKEN not in str(body)
    finally:
        await runner.cleanup()


async def test_metrics_need_the_token_and_count_by_route_template(
    base: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{base}/metrics") as resp:
        assert resp.status == 401
    for slot_id in ("s-1", "s-2", "s-3"):
        async with http.get(f"{base}/calendar/slots/{slot_id}", headers=AUTH) as resp:
            assert resp.status == 404
        async with http.post(f"{base}/calendar/slots/{slot_id}/start", headers=AUTH) as resp:
            assert resp.status in (404, 422)
    async with http.get(f"{base}/calendar/day", headers={"X-Agent-Id": "a"}) as resp:
        assert resp.status == 401
    async with http.get(f"{base}/metrics", headers=AUTH) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    counts = samples(text, "calendar_requests_total")
    assert counts[("GET /calendar/slots/{slot_id}", "404")] == 3
    assert counts[("GET /calendar/day", "401")] == 1
    assert counts[("GET /metrics", "401")] == 1
    assert sum(v for (e, _), v in counts.items() if e.startswith("POST /calendar/slots/")) == 3
    # No slot id ever becomes a label.
    assert not any("s-1" in endpoint for endpoint, _ in counts)


async def test_hostile_methods_and_paths_stay_bounded_labels(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    base = (await serve(token=None)).base_url
    for method in ("PROPFIND", "PUT", "BREW"):
        async with http.request(method, f"{base}/calendar/slots") as resp:
            assert resp.status in (400, 405)
    for n in range(20):
        async with http.get(f"{base}/nowhere/{n}/{'x' * 500}") as resp:
            assert resp.status == 404
    async with http.get(f"{base}/metrics") as resp:
        counts = samples(await resp.text(), "calendar_requests_total")
    # An invented method is one "OTHER" label; a path per request is one "unmatched" label.
    assert counts == {
        ("OTHER unmatched", "405"): 1,
        ("PUT unmatched", "405"): 1,
        ("GET unmatched", "404"): 20,
    }


async def test_each_app_has_its_own_registry(serve: Serve, http: aiohttp.ClientSession) -> None:
    first, second = await serve(), await serve()
    async with http.get(f"{first.base_url}/calendar/agent/status", headers=AUTH) as resp:
        assert resp.status == 200
    async with http.get(f"{second.base_url}/metrics") as resp:
        counts = samples(await resp.text(), "calendar_requests_total")
    assert ("GET /calendar/agent/status", "200") not in counts
