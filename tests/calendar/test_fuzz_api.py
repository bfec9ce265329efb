"""Schema fuzzing: schemathesis drives the real server on loopback from docs/calendar-api.yaml.

Every generated request (valid and not) must be answered without a 5xx, with a
status, content type, headers and body the document allows. The examples are
few and derandomized, so the run is bounded and repeatable in CI.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import positive_data_acceptance

from bot.calendar.server import start_server
from bot.calendar.store import EmbeddedCalendar
from bot.core.clock import FakeClock
from tests.calendar.conftest import START, TOKEN, TZ

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "calendar-api.yaml"
SCHEMA = schemathesis.openapi.from_path(SPEC_PATH)
#: Valid requests and invalid ones (wrong types, out of range, unknown fields, bad headers).
SCHEMA.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    deterministic=True,
)
#: Per operation; six operations make a run of a few hundred requests.
MAX_EXAMPLES = 30


class _ServerThread:
    """The calendar server on its own event loop in a thread (schemathesis calls are blocking)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fuzzed-calendar", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self.store = await EmbeddedCalendar.open(":memory:", timezone=TZ, clock=FakeClock(START))
        self.runner, self.port = await start_server(self.store, "127.0.0.1", 0, token=TOKEN)

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.store.close()

    def start(self) -> str:
        self._thread.start()
        assert self._ready.wait(30), "the calendar server did not start"
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = _ServerThread()
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


#: The change feed's valid `wait`s (up to 60 s) are cut to this, so the fuzz never stalls.
FUZZ_WAIT_S = "0.05"


def _short_long_poll(case: Case) -> None:
    """A valid `wait` on the change feed becomes short; invalid ones are sent as generated."""
    if case.path != "/calendar/changes" or not isinstance(case.query, dict):
        return
    wait = case.query.get("wait")
    try:
        valid = wait is not None and 0 < float(wait) <= 60
    except (TypeError, ValueError):
        valid = False
    if valid:
        case.query["wait"] = FUZZ_WAIT_S


@SCHEMA.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_breaks_the_server_or_the_document(case: Case, base_url: str) -> None:
    _short_long_poll(case)
    # Schema-valid data may still be refused for what a schema cannot say (a create more
    # than an hour in the past, a time in year 9999 in the calendar's zone): every other
    # check stays, the refusal of schema-invalid data included.
    case.call_and_validate(
        base_url=base_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        excluded_checks=[positive_data_acceptance],
    )
