"""docs/calendar-api.yaml is held to the server: the same routes, and real answers validate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker

from bot.calendar.server import make_app
from bot.calendar.store import EmbeddedCalendar
from bot.core.models import AgentStatus, DaySchedule, Slot, SlotCreate, TransitionRequest
from tests.calendar.conftest import START, TOKEN, Served, slot_body

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "calendar-api.yaml"
METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return loaded


def _checker() -> FormatChecker:
    """Real checks for the formats we rely on (jsonschema skips them without extras)."""
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parsed = datetime.fromisoformat(value)
        return parsed.utcoffset() is not None  # RFC 3339 needs an offset

    @checker.checks("date", raises=ValueError)
    def is_date(value: object) -> bool:
        return not isinstance(value, str) or bool(date.fromisoformat(value))

    return checker


def validator(spec: dict[str, Any], name: str) -> Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return Draft202012Validator(schema, format_checker=_checker())


def assert_valid(spec: dict[str, Any], name: str, instance: Any) -> None:
    errors = sorted(validator(spec, name).iter_errors(instance), key=str)
    assert not errors, f"{name}: {[e.message for e in errors]}"


def test_spec_is_openapi_31_and_its_schemas_are_valid(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["schemas"]
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


async def test_paths_and_methods_match_the_server_exactly(
    spec: dict[str, Any], store: EmbeddedCalendar
) -> None:
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }
    app = make_app(store)
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }
    assert documented == served


def test_schemas_name_the_same_fields_as_the_models(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    pairs = {
        "Slot": Slot,
        "SlotCreate": SlotCreate,
        "TransitionRequest": TransitionRequest,
        "DaySchedule": DaySchedule,
        "AgentStatus": AgentStatus,
    }
    for name, model in pairs.items():
        assert set(schemas[name]["properties"]) == set(model.model_fields), name
    assert set(schemas["Slot"]["required"]) == set(Slot.model_fields)


async def test_real_answers_validate_against_the_spec(
    spec: dict[str, Any],
    serve: Callable[..., Awaitable[Served]],
    store: EmbeddedCalendar,
) -> None:
    base = (await serve(token=TOKEN)).base_url
    auth = {"Authorization": f"Bearer {TOKEN}", "X-Agent-Id": "alice"}
    body = slot_body(event_data={"k": [1, 2]}).model_dump(mode="json", exclude_none=True)
    assert_valid(spec, "SlotCreate", body)
    async with aiohttp.ClientSession(headers=auth) as http:

        async def answer(method: str, path: str, **kw: Any) -> tuple[int, Any]:
            async with http.request(method, base + path, **kw) as resp:
                return resp.status, await resp.json()

        status, slot = await answer("POST", "/calendar/slots", json=body)
        assert status == 201
        assert_valid(spec, "Slot", slot)
        assert_valid(spec, "Slot", (await answer("GET", f"/calendar/slots/{slot['id']}"))[1])
        status, idle = await answer("GET", "/calendar/agent/status")
        assert status == 200 and idle["last_heartbeat_at"] is None
        assert_valid(spec, "AgentStatus", idle)
        status, due = await answer(
            "POST", "/calendar/agent/heartbeat", json={"status": "busy", "current_slot_id": None}
        )
        assert status == 200 and len(due["slots"]) == 1
        assert_valid(spec, "SlotList", due)
        status, started = await answer(
            "POST", f"/calendar/slots/{slot['id']}/start", json={"expected_version": 1}
        )
        assert status == 200
        assert_valid(spec, "Slot", started)
        assert_valid(spec, "AgentStatus", (await answer("GET", "/calendar/agent/status"))[1])
        status, day = await answer("GET", f"/calendar/day?date={START.date().isoformat()}")
        assert status == 200 and len(day["slots"]) == 1
        assert_valid(spec, "DaySchedule", day)

        errors = [
            (400, "Error", await answer("GET", "/calendar/day?date=nope")),
            (404, "Error", await answer("GET", "/calendar/slots/none")),
            (409, "Conflict", await answer("POST", f"/calendar/slots/{slot['id']}/start")),
            (422, "Error", await answer("POST", "/calendar/slots", json={"priority": 7})),
        ]
        for expected, schema, (status, error) in errors:
            assert status == expected, error
            assert_valid(spec, schema, error)
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(f"{base}/calendar/agent/status") as resp,
    ):
        assert resp.status == 401
        assert_valid(spec, "Error", await resp.json())


def test_the_spec_refuses_what_the_server_refuses(spec: dict[str, Any]) -> None:
    """The documented schema is not looser than the wire: these must fail it too."""
    slot_create = validator(spec, "SlotCreate")
    good = {"scheduled_at": START.isoformat()}
    assert slot_create.is_valid(good)
    assert not slot_create.is_valid({**good, "priority": 101})
    assert not slot_create.is_valid({**good, "id": "x"})
    assert not slot_create.is_valid({"scheduled_at": "2026-01-05T09:00:00"})
    assert not slot_create.is_valid({**good, "agent_id": "Bad Id"})
