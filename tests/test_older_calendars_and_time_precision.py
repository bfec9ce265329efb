"""Two edges of DESIGN's contract a conformance review found broken, both fixed: a time finer
than a microsecond is refused rather than cut (§3.2: a write is kept exactly or refused),
and against an API 1 calendar (404 on `GET /calendar`) the commands that need a missing
feature say the calendar does not support it (§3), instead of "no route".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.core.models import SlotCreate
from tests.app.cli_shell import calendar, clean_shell

#: `calendar add`'s option that asks for a series (a feature a v1 calendar lacks).
REPEAT = ("--repeat", "daily")
#: More digits of a second than a stored time keeps (microseconds): RFC 3339 allows any number.
NANOSECOND_TIME = "2099-01-05T09:00:00.1234567+08:00"
ONE_EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
    "UID:one@test\r\nDTSTAMP:20990101T000000Z\r\nDTSTART:20990105T090000Z\r\n"
    "SUMMARY:t\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_a_time_finer_than_a_microsecond_is_refused_not_truncated() -> None:
    try:
        made = SlotCreate.model_validate(
            {"agent_id": "alice", "scheduled_at": NANOSECOND_TIME, "title": "t", "prompt": "p"}
        )
    except ValidationError as refused:
        assert "scheduled_at" in str(refused)
        return
    assert made.scheduled_at.isoformat() == NANOSECOND_TIME  # kept exactly, or refused


class _V1Handler(BaseHTTPRequestHandler):
    """A v1 calendar server: no `GET /calendar`, none of API 2's features (series, changes,
    ics: 404), an empty plan wherever it does answer."""

    def _answer(self, status: int, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/calendar/slots?"):
            self._answer(200, {"slots": []})
            return
        self._not_found()

    def _not_found(self) -> None:
        self._answer(404, {"error": "not_found", "detail": f"no route {self.path}"})

    do_POST = do_PATCH = do_DELETE = _not_found

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the CLI's words, not the fake's."""


@pytest.fixture
def v1_calendar() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _V1Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize(
    "command",
    [
        ("series", "list", "--agent", "alice"),
        ("add", "--agent", "alice", "--in", "2h", "--title", "t", "--prompt", "p", *REPEAT),
        ("export", "--agent", "alice"),
        ("import", "plan.ics", "--agent", "alice"),
    ],
    ids=["series-list", "add-repeat", "export", "import"],
)
def test_a_command_needing_a_feature_a_v1_calendar_lacks_says_it_is_not_supported(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    v1_calendar: str,
    command: tuple[str, ...],
) -> None:
    clean_shell(monkeypatch, tmp_path)
    monkeypatch.setenv("CALENDAR_URL", v1_calendar)
    (tmp_path / "plan.ics").write_text(ONE_EVENT, encoding="utf-8")
    ran = calendar(capsys, *command)
    line = ran.one_line_error()
    assert ran.code == 1, line
    assert "not support" in line.lower(), line
