"""SpawnUrlWaker against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from typing import Any

import pytest

from bot.core.agents import AgentConfig
from bot.core.models import Slot
from bot.core.waker import WakeResult
from bot.wakers.spawn import wake_id_for
from bot.wakers.spawn_env import SpawnEnvironment
from bot.wakers.spawn_url import SpawnUrlWaker
from testkit.retries import quick_retry
from tests.discord_io.conftest import SpawnReceiver, make_slot


def _waker(
    url: str | None, environment: SpawnEnvironment | None = None, **retry: Any
) -> SpawnUrlWaker:
    """The webhook waker with quick retries, `retry` changing them (`RetrySettings` fields)."""
    return SpawnUrlWaker(url, environment=environment, retry=quick_retry(**retry))


async def _wake_once(
    url: str | None,
    agent: AgentConfig,
    slot: Slot | None = None,
    *,
    prompt: str = "p",
    environment: SpawnEnvironment | None = None,
    **retry: Any,
) -> WakeResult:
    """One wake through a fresh waker with `retry` changed, closed after (its session with it)."""
    waker = _waker(url, environment, **retry)
    try:
        return await waker.wake(agent, slot or make_slot(), prompt)
    finally:
        await waker.close()


async def test_posts_the_documented_payload(
    spawn_receiver: SpawnReceiver, alice: AgentConfig
) -> None:
    slot = make_slot(prompt='Say "hi"; then $(rm -rf /)\nline two')
    result = await _wake_once(
        spawn_receiver.url,
        alice,
        slot,
        prompt="rendered prompt",
        environment=SpawnEnvironment(calendar_url="http://127.0.0.1:8099"),
    )
    assert result.ok and result.via == "spawn_url"
    assert len(spawn_receiver.bodies) == 1
    body = spawn_receiver.bodies[0]
    assert set(body) == {"agent_id", "slot", "prompt", "wake_id", "calendar_url"}
    assert body["agent_id"] == "alice"
    assert body["prompt"] == "rendered prompt"
    assert body["calendar_url"] == "http://127.0.0.1:8099"
    assert body["slot"] == slot.model_dump(mode="json")
    assert body["wake_id"] == wake_id_for(slot.id)
    assert spawn_receiver.headers[0]["Content-Type"].startswith("application/json")


async def test_wake_id_is_stable_per_slot_and_differs_between_slots(
    spawn_receiver: SpawnReceiver, alice: AgentConfig
) -> None:
    waker = _waker(spawn_receiver.url)
    try:
        await waker.wake(alice, make_slot("slot-a"), "p")
        await waker.wake(alice, make_slot("slot-a", title="changed"), "p")
        await waker.wake(alice, make_slot("slot-b"), "p")
    finally:
        await waker.close()
    ids = [b["wake_id"] for b in spawn_receiver.bodies]
    assert ids[0] == ids[1] != ids[2]
    assert spawn_receiver.bodies[0]["calendar_url"] is None


async def test_retries_5xx_then_succeeds(spawn_receiver: SpawnReceiver, alice: AgentConfig) -> None:
    spawn_receiver.statuses = [500, 503]
    result = await _wake_once(spawn_receiver.url, alice, attempts=4)
    assert result.ok, result.error
    assert len(spawn_receiver.bodies) == 3
    assert len({b["wake_id"] for b in spawn_receiver.bodies}) == 1


async def test_a_timeout_is_retried(spawn_receiver: SpawnReceiver, alice: AgentConfig) -> None:
    spawn_receiver.delays = [10.0]
    result = await _wake_once(spawn_receiver.url, alice, attempts=4, timeout_s=1.0)
    assert result.ok, result.error
    assert len(spawn_receiver.bodies) >= 2  # the hung first answer was given up on


async def test_gives_up_after_bounded_attempts(
    spawn_receiver: SpawnReceiver, alice: AgentConfig
) -> None:
    spawn_receiver.default_status = 502
    result = await _wake_once(spawn_receiver.url, alice, attempts=3)
    assert not result.ok
    assert len(spawn_receiver.bodies) == 3
    assert result.error is not None and "3 time(s)" in result.error and "HTTP 502" in result.error


async def test_4xx_fails_without_retry_and_hides_the_token(
    spawn_receiver: SpawnReceiver, alice: AgentConfig, caplog: pytest.LogCaptureFixture
) -> None:
    spawn_receiver.statuses = [400]
    caplog.set_level(logging.DEBUG)
    result = await _wake_once(spawn_receiver.url, alice, attempts=4)
    assert not result.ok
    assert len(spawn_receiver.bodies) == 1
    assert result.error is not None and "HTTP 400" in result.error
    assert "s3cret-token" not in result.error
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("bot.")]
    assert ours, "the refusal is logged"
    assert all("s3cret-token" not in line for line in ours)


async def test_connection_refused_is_retried_then_a_clear_failure(alice: AgentConfig) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await _wake_once(f"http://127.0.0.1:{port}/hook", alice, attempts=2)
    assert not result.ok
    assert result.error is not None
    assert "2 time(s)" in result.error and "cannot connect" in result.error


async def test_per_agent_url_overrides_the_global_one(spawn_receiver: SpawnReceiver) -> None:
    agent = AgentConfig(id="bob", spawn_url=spawn_receiver.url)
    result = await _wake_once("http://127.0.0.1:9/never-used", agent, make_slot(agent_id="bob"))
    assert result.ok
    assert spawn_receiver.bodies[0]["agent_id"] == "bob"


def test_can_wake_needs_a_url(alice: AgentConfig) -> None:
    assert not SpawnUrlWaker(None).can_wake(alice)
    assert SpawnUrlWaker(None).can_wake(replace(alice, spawn_url="http://x.test/h"))
    assert SpawnUrlWaker("http://x.test/h").can_wake(alice)
