"""PATCH (edit and move), the range list and `GET /calendar` (DESIGN §3), on every backend.

A refused edit or list stores nothing and says why; a move makes a DEFERRED slot
NOT_STARTED; only waiting slots can be edited.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from bot.calendar.store import EmbeddedCalendar
from bot.core.calendar import BadRequest, SlotNotFound, TransitionConflict
from bot.core.models import Action, SlotEdit, SlotStatus
from tests.calendar.conftest import START, Backend, Served, minutes, slot_body


async def test_edit_changes_only_what_it_names(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(), agent_id="ada")
    edited = await backend.cal.edit_slot(
        slot.id, SlotEdit(title="new title", priority=90, expected_version=1), agent_id="ada"
    )
    assert (edited.title, edited.priority, edited.version) == ("new title", 90, 2)
    assert (edited.prompt, edited.scheduled_at) == (slot.prompt, slot.scheduled_at)
    assert edited.status is SlotStatus.NOT_STARTED
    assert await backend.cal.get_slot(slot.id) == edited


async def test_a_move_makes_a_deferred_slot_not_started(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(), agent_id="ada")
    deferred = await backend.cal.transition(slot.id, Action.DEFER, agent_id="ada")
    later = START + timedelta(hours=3)
    moved = await backend.cal.edit_slot(slot.id, SlotEdit(scheduled_at=later))
    assert (moved.status, moved.scheduled_at, moved.version) == (
        SlotStatus.NOT_STARTED,
        later,
        deferred.version + 1,
    )
    kept = await backend.cal.edit_slot(slot.id, SlotEdit(event_data={"k": [1]}))
    assert kept.event_data == {"k": [1]} and kept.scheduled_at == later


@pytest.mark.parametrize("action", [Action.START, Action.COMPLETE, Action.CANCEL])
async def test_only_a_waiting_slot_can_be_edited(backend: Backend, action: Action) -> None:
    slot = await backend.cal.create_slot(slot_body(), agent_id="ada")
    await backend.cal.transition(slot.id, Action.START if action is not Action.CANCEL else action)
    if action is Action.COMPLETE:
        await backend.cal.transition(slot.id, action)
    before = await backend.cal.get_slot(slot.id)
    with pytest.raises(TransitionConflict) as err:
        await backend.cal.edit_slot(slot.id, SlotEdit(title="too late"))
    assert err.value.code == "not_editable" and err.value.slot == before
    assert await backend.cal.get_slot(slot.id) == before


async def test_a_stale_edit_is_refused_and_stores_nothing(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(), agent_id="ada")
    await backend.cal.edit_slot(slot.id, SlotEdit(title="first"))
    with pytest.raises(TransitionConflict) as err:
        await backend.cal.edit_slot(slot.id, SlotEdit(title="second", expected_version=1))
    assert err.value.code == "version_mismatch"
    assert (await backend.cal.get_slot(slot.id)).title == "first"


@pytest.mark.parametrize(
    "fields",
    [
        {"priority": 101},
        {"title": "x" * 201},
        {"slot_type": "Not Valid"},
        {"estimated_duration_min": 0},
        {"event_data": {"a": "x" * 17_000}},
        {"expected_version": 1},  # nothing to change
    ],
)
async def test_a_bad_edit_is_refused_and_stores_nothing(
    backend: Backend, fields: dict[str, Any]
) -> None:
    slot = await backend.cal.create_slot(slot_body(), agent_id="ada")
    with pytest.raises(BadRequest) as err:
        await backend.cal.edit_slot(slot.id, SlotEdit.model_construct(None, **fields))
    assert err.value.code == "validation_error"
    assert await backend.cal.get_slot(slot.id) == slot


async def test_editing_a_missing_or_foreign_slot_is_404(backend: Backend) -> None:
    slot = await backend.cal.create_slot(slot_body(), agent_id="ada")
    with pytest.raises(SlotNotFound):
        await backend.cal.edit_slot("nope", SlotEdit(title="x"))
    with pytest.raises(SlotNotFound):
        await backend.cal.edit_slot(slot.id, SlotEdit(title="x"), agent_id="bob")
    assert await backend.cal.get_slot(slot.id) == slot


async def test_the_range_list_is_by_time_then_id(backend: Backend) -> None:
    made = [
        await backend.cal.create_slot(slot_body(START + timedelta(days=d)), agent_id="ada")
        for d in (3, 0, 40, 0)
    ]
    await backend.cal.create_slot(slot_body(START), agent_id="bob")
    await backend.cal.transition(made[1].id, Action.CANCEL)
    got = await backend.cal.list_range("ada", START, START + timedelta(days=40))
    expected = sorted(made[:2] + made[3:], key=lambda s: (s.scheduled_at, s.id))
    assert [s.id for s in got] == [s.id for s in expected]
    cancelled = await backend.cal.list_range(
        "ada", START - minutes(1), START + minutes(1), SlotStatus.CANCELLED
    )
    assert [s.id for s in cancelled] == [made[1].id]
    assert await backend.cal.list_range("ada", START, START) == []


@pytest.mark.parametrize("days", [92.01, -1])
async def test_a_range_too_long_or_backwards_is_refused(backend: Backend, days: float) -> None:
    with pytest.raises(BadRequest) as err:
        await backend.cal.list_range("ada", START, START + timedelta(days=days))
    assert err.value.code == "bad_range"


async def test_features_say_what_the_calendar_offers(backend: Backend) -> None:
    assert isinstance(await backend.cal.features(), frozenset)


async def test_a_v1_server_has_no_features(serve: Any) -> None:
    from aiohttp import web

    from bot.calendar.client import HttpCalendar
    from tests.calendar.conftest import TZ

    async def v1(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/calendar":
            return web.json_response({"error": "not_found", "detail": "v1"}, status=404)
        return await handler(request)

    served: Served = await serve(v1)
    client = HttpCalendar(served.base_url, timezone=TZ)
    try:
        assert await client.features() == frozenset()
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("agent_id=ada&from=2026-01-05T09:00:00&to=2026-01-06T09:00:00Z", "bad_time"),
        ("agent_id=ada&from=yesterday&to=2026-01-06T09:00:00Z", "bad_time"),
        ("agent_id=ada&from=2026-01-05T09:00:00Z", "bad_time"),
        (
            "agent_id=ada&from=2026-01-05T09:00:00Z&to=2026-01-06T09:00:00Z&status=DONE",
            "bad_status",
        ),
        ("agent_id=Bad!&from=2026-01-05T09:00:00Z&to=2026-01-06T09:00:00Z", "invalid_agent_id"),
        ("from=2026-01-05T09:00:00Z&to=2026-01-06T09:00:00Z", "missing_agent_id"),
        ("agent_id=ada&from=2026-01-05T09:00:00Z&to=2026-09-06T09:00:00Z", "bad_range"),
        ("agent_id=ada&from=2026-01-07T09:00:00Z&to=2026-01-06T09:00:00Z", "bad_range"),
    ],
)
async def test_bad_range_queries_are_400(
    serve: Any, http: aiohttp.ClientSession, query: str, code: str
) -> None:
    served: Served = await serve()
    async with http.get(f"{served.base_url}/calendar/slots?{query}") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == code


@pytest.mark.parametrize(
    "body",
    ['{"title": null}', '{"priority": "50"}', '{"id": "x"}', '{"status": "FINISHED"}', "[]"],
)
async def test_bad_patch_bodies_are_422_and_store_nothing(
    serve: Any, http: aiohttp.ClientSession, body: str, store: EmbeddedCalendar
) -> None:
    slot = await store.create_slot(slot_body(), agent_id="ada")
    served: Served = await serve()
    async with http.patch(
        f"{served.base_url}/calendar/slots/{slot.id}",
        data=body,
        headers={"Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 422
        assert (await resp.json())["error"] == "validation_error"
    assert await store.get_slot(slot.id) == slot


async def test_an_edit_racing_a_claim_is_one_or_the_other(backend: Backend) -> None:
    """Both read version 1: exactly one wins, and the loser is refused with nothing stored."""
    slot = await backend.cal.create_slot(slot_body(), agent_id="ada")
    claim = backend.cal.transition(slot.id, Action.START, expected_version=1)
    edit = backend.cal.edit_slot(slot.id, SlotEdit(title="moved on", expected_version=1))
    results = await asyncio.gather(claim, edit, return_exceptions=True)
    refused = [r for r in results if isinstance(r, TransitionConflict)]
    assert len(refused) == 1 and refused[0].code in {"version_mismatch", "not_editable"}
    final = await backend.cal.get_slot(slot.id)
    assert final.version == 2
    assert (final.status is SlotStatus.ONGOING) == (final.title == slot.title)
