"""The bot's instruments filled from the real core's events, and /healthz's verdict."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.core.moderator import Moderator
from bot.metrics import ModeratorMetrics, health_report, serve_metrics
from testkit.wakers import RecordingWaker
from tests.core.conftest import ADA, BOB, START, Harness, add_slot

INTERVAL_S = 300.0


def value(metrics: ModeratorMetrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def watched(
    harness: Harness, waker: RecordingWaker, **kw: object
) -> tuple[Moderator, ModeratorMetrics]:
    metrics = ModeratorMetrics(sync_interval_s=INTERVAL_S, discord=False)
    moderator = await harness.moderator(waker, (ADA, BOB), start=False)
    metrics.watch(moderator)
    await moderator.start()
    await harness.clock.advance(0)
    return moderator, metrics


async def test_wakes_latency_and_syncs_are_counted(harness: Harness) -> None:
    waker = RecordingWaker(harness.clock, name="spawn_url")
    moderator, metrics = await watched(harness, waker)
    assert value(metrics, "moderator_syncs_total", outcome="ok") == 2
    await add_slot(harness.calendar, "ada", START + timedelta(minutes=1))
    await moderator.sync("ada")
    await harness.clock.advance(120)
    assert waker.calls
    assert value(metrics, "moderator_wakes_total", waker="spawn_url", outcome="ok") == 1
    assert value(metrics, "moderator_wake_latency_seconds_count") == 1
    # Woken by the precise timer at the slot's time on the fake clock: no latency at all.
    assert value(metrics, "moderator_wake_latency_seconds_sum") < 1.0
    assert value(metrics, "moderator_agents", state="busy") == 1
    assert value(metrics, "moderator_agents", state="idle") == 1
    assert value(metrics, "moderator_sync_interval_seconds") == INTERVAL_S


async def test_a_wake_failing_on_every_waker_is_counted_once_per_attempt(harness: Harness) -> None:
    waker = RecordingWaker(harness.clock, failures=None)
    moderator, metrics = await watched(harness, waker)
    await add_slot(harness.calendar, "ada", START + timedelta(minutes=1))
    await moderator.sync("ada")
    await harness.clock.advance(90)
    attempts = len(waker.calls)
    assert attempts >= 1
    assert value(metrics, "moderator_wakes_total", waker="chain", outcome="failed") == attempts
    assert value(metrics, "moderator_wake_latency_seconds_count") == 0


async def test_health_names_what_is_wrong(harness: Harness) -> None:
    metrics = ModeratorMetrics(sync_interval_s=INTERVAL_S, discord=True)
    assert health_report(metrics) == [
        "Discord is not connected",
        "starting: the moderator is not running yet",
    ]
    moderator = await harness.moderator(RecordingWaker(harness.clock), (ADA, BOB), start=False)
    metrics.watch(moderator)
    assert "agent ada has not synced yet" in health_report(metrics)
    await moderator.start()
    metrics.set_discord_connected(True)
    assert health_report(metrics) == []
    await harness.clock.advance(3 * INTERVAL_S + 1)
    reasons = health_report(metrics)
    assert len(reasons) == 2 and all("3 x SYNC_INTERVAL_S" in r for r in reasons)
    assert value(metrics, "moderator_oldest_sync_age_seconds") > 3 * INTERVAL_S
    metrics.set_discord_connected(False)
    assert value(metrics, "moderator_discord_connected") == 0


async def test_served_over_http_and_a_taken_port_is_an_oserror(harness: Harness) -> None:
    _, metrics = await watched(harness, RecordingWaker(harness.clock))
    runner, port = await serve_metrics(metrics, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert (resp.status, await resp.json()) == (200, {"status": "ok"})
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                names = {f.name for f in text_string_to_metric_families(await resp.text())}
        assert {"moderator_wakes", "moderator_syncs", "moderator_agents"} <= names
        with pytest.raises(OSError):
            await serve_metrics(metrics, "127.0.0.1", port)
    finally:
        await runner.cleanup()


async def test_two_instruments_in_one_process_do_not_collide() -> None:
    first = ModeratorMetrics(sync_interval_s=1, discord=True)
    second = ModeratorMetrics(sync_interval_s=1, discord=True)
    first.calendar_request("GET /calendar/day", "200")
    assert (
        value(
            first, "moderator_calendar_requests_total", endpoint="GET /calendar/day", status="200"
        )
        == 1
    )
    assert (
        value(
            second, "moderator_calendar_requests_total", endpoint="GET /calendar/day", status="200"
        )
        == 0
    )


async def test_the_change_feed_gauge_follows_the_feed_at_scrape_time(harness: Harness) -> None:
    metrics = ModeratorMetrics(sync_interval_s=INTERVAL_S, discord=False)
    moderator = await harness.moderator(RecordingWaker(harness.clock), (ADA, BOB), start=False)
    assert value(metrics, "moderator_change_feed_up") == 0  # nothing says changes arrive
    feed = {"up": True}
    metrics.watch(moderator, lambda: feed["up"])
    assert value(metrics, "moderator_change_feed_up") == 1
    feed["up"] = False
    assert value(metrics, "moderator_change_feed_up") == 0
