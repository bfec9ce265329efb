"""The batched heartbeat (DESIGN §3: `POST /calendar/agents/heartbeat`, full token only).

Over every backend: each agent's answer is the one its own heartbeat gives, and a
refused batch keeps nothing (no agent's status moves). Over the raw wire: every
shape of bad body is a 422 naming the entry, and an agent token is a 403.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import BadRequest
from bot.core.models import (
    HEARTBEAT_BATCH_MAX,
    AgentHeartbeat,
    HeartbeatStatus,
    SeriesCreate,
)
from bot.core.tokens import TokenKind, derive_token
from bot.core.validation import AgentNotServed
from tests.calendar.conftest import START, TOKEN, TZ, Backend, Served, minutes, slot_body

IDLE, BUSY = HeartbeatStatus.IDLE, HeartbeatStatus.BUSY
AGENTS = ("alice", "bob", "carol")


def entry(agent_id: str, status: HeartbeatStatus = IDLE, slot: str | None = None) -> AgentHeartbeat:
    return AgentHeartbeat(agent_id=agent_id, status=status, current_slot_id=slot)


async def statuses(store: EmbeddedCalendar, agents: tuple[str, ...] = AGENTS) -> list[Any]:
    """What a refused batch must leave alone: each agent's status and last beat."""
    return [(await store.agent_status(agent)).model_dump() for agent in agents]


async def test_each_agent_gets_what_its_own_heartbeat_answers(backend: Backend) -> None:
    cal = backend.cal
    for at, priority in [(START - minutes(20), 10), (START - minutes(5), 90)]:
        await cal.create_slot(slot_body(at, priority=priority), agent_id="alice")
    await cal.create_slot(slot_body(START - minutes(1)), agent_id="bob")
    await cal.create_slot(slot_body(START + minutes(30)), agent_id="bob")  # not due yet
    series = SeriesCreate(rrule="FREQ=HOURLY", start="2026-01-05T09:10", title="tick")
    await cal.create_series(series, agent_id="carol")
    await backend.clock.advance(15 * 60)  # carol's 09:10 occurrence is now due

    batch = await cal.heartbeat_many([entry("alice"), entry("bob", BUSY, "x"), entry("carol")])

    assert list(batch) == ["alice", "bob", "carol"]
    assert [s.priority for s in batch["alice"]] == [90, 10]  # selection order kept
    assert len(batch["bob"]) == 1 and len(batch["carol"]) == 1
    assert batch["carol"][0].series_id is not None
    for agent, status in [("alice", IDLE), ("bob", BUSY), ("carol", IDLE)]:
        single = await cal.heartbeat(agent, status, "x" if agent == "bob" else None)
        assert [s.model_dump() for s in batch[agent]] == [s.model_dump() for s in single]
    bob = await cal.agent_status("bob")
    assert bob.status.value == "busy" and bob.current_slot_id == "x"


async def test_an_empty_batch_answers_no_agents(backend: Backend) -> None:
    assert await backend.cal.heartbeat_many([]) == {}


@pytest.mark.parametrize(
    "beats",
    [
        pytest.param([entry("bob", BUSY), entry("alice", BUSY), entry("alice")], id="duplicate"),
        pytest.param([entry(f"a{i}") for i in range(HEARTBEAT_BATCH_MAX + 1)], id="over-the-limit"),
        pytest.param(
            [entry("bob", BUSY), AgentHeartbeat.model_construct(agent_id="Alice", status=IDLE)],
            id="uppercase-agent",
        ),
        pytest.param(
            [AgentHeartbeat.model_construct(agent_id="bob", status=BUSY, current_slot_id="")],
            id="empty-slot-id",
        ),
    ],
)
async def test_a_bad_batch_is_refused_whole(backend: Backend, beats: list[AgentHeartbeat]) -> None:
    await backend.cal.heartbeat("alice", IDLE)
    await backend.clock.advance(60)
    before = await statuses(backend.store)
    with pytest.raises(BadRequest) as refused:
        await backend.cal.heartbeat_many(beats)
    assert refused.value.code == "validation_error"
    assert "agents" in refused.value.detail
    assert await statuses(backend.store) == before
    assert await backend.store.agent_ids() == ["alice"]


async def test_an_unknown_agent_refuses_the_batch(clock: Any) -> None:
    store = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=clock, agents=["alice"])
    try:
        with pytest.raises(AgentNotServed):
            await store.heartbeat_many([entry("alice", BUSY), entry("mallory")])
        assert await store.agent_ids() == []
    finally:
        await store.close()


async def post_batch(
    http: aiohttp.ClientSession, served: Served, body: Any, token: str = TOKEN
) -> tuple[int, Any]:
    """POST `body` (JSON) to the batched heartbeat with `token`; answers status and JSON."""
    async with http.post(
        f"{served.base_url}/calendar/agents/heartbeat",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        return resp.status, await resp.json()


def _many(n: int) -> list[dict[str, Any]]:
    return [{"agent_id": f"a{i}", "status": "idle"} for i in range(n)]


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("agents-an-object", {"agents": {"alice": {"status": "idle"}}}, "agents"),
    ("agents-a-string", {"agents": "alice"}, "agents"),
    ("agents-missing", {}, "agents"),
    ("body-a-list", [{"agent_id": "alice", "status": "idle"}], "object"),
    ("over-the-limit", {"agents": _many(HEARTBEAT_BATCH_MAX + 1)}, "agents"),
    (
        "duplicate",
        {"agents": [{"agent_id": "bob", "status": "busy"}, *_many(1), *_many(1)]},
        "agents.2",
    ),
    ("bad-status", {"agents": [*_many(1), {"agent_id": "bob", "status": "asleep"}]}, "agents.1"),
    ("status-missing", {"agents": [{"agent_id": "bob"}]}, "agents.0.status"),
    ("unknown-field", {"agents": [{"agent_id": "bob", "status": "idle", "mood": 1}]}, "mood"),
    ("unknown-top-field", {"agents": [], "force": True}, "force"),
    ("uppercase-agent", {"agents": [*_many(1), {"agent_id": "Bob", "status": "idle"}]}, "agents.1"),
    ("newline-agent", {"agents": [{"agent_id": "bob\n", "status": "idle"}]}, "agents.0"),
    ("agent-a-number", {"agents": [{"agent_id": 7, "status": "idle"}]}, "agents.0"),
    (
        "slot-id-a-number",
        {"agents": [{"agent_id": "bob", "status": "busy", "current_slot_id": 5}]},
        "current_slot_id",
    ),
    ("entry-a-string", {"agents": ["bob"]}, "agents.0"),
]


@pytest.mark.parametrize(
    ("body", "where"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
async def test_bad_bodies_are_422_naming_the_entry_and_keep_nothing(
    serve: Any, store: EmbeddedCalendar, http: aiohttp.ClientSession, body: Any, where: str
) -> None:
    served: Served = await serve(token=TOKEN)
    await store.heartbeat("a0", IDLE)
    before = await statuses(store, ("a0", "bob"))
    status, answer = await post_batch(http, served, body)
    assert status == 422, answer
    assert answer["error"] == "validation_error"
    assert where in answer["detail"]
    assert len(answer["detail"]) < 2000  # a huge body is not echoed back
    assert await statuses(store, ("a0", "bob")) == before
    assert await store.agent_ids() == ["a0"]


async def test_a_body_that_is_not_json_is_400(
    serve: Any, store: EmbeddedCalendar, http: aiohttp.ClientSession
) -> None:
    served: Served = await serve(token=TOKEN)
    async with http.post(
        f"{served.base_url}/calendar/agents/heartbeat",
        data=b"{agents: [",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "bad_json"
    assert await store.agent_ids() == []


async def test_an_agent_token_is_refused_and_nothing_kept(
    serve: Any, store: EmbeddedCalendar, http: aiohttp.ClientSession
) -> None:
    served: Served = await serve(token=TOKEN)
    await store.heartbeat("alice", IDLE)
    before = await statuses(store)
    token = derive_token(TOKEN, TokenKind.AGENT, "alice")
    body = {"agents": [{"agent_id": "alice", "status": "busy", "current_slot_id": "s"}]}
    status, answer = await post_batch(http, served, body, token)
    assert status == 403 and answer["error"] == "forbidden"
    assert await statuses(store) == before
