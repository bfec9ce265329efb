"""Discord-shaped error answers raised inside the fake's handlers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_response(
    payload: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer whose Content-Type is exactly `application/json`.

    discord.py only decodes a body whose content-type header equals that string
    (no charset parameter), so this is not cosmetic.
    """
    all_headers = {"Content-Type": "application/json"}
    if headers:
        all_headers.update(headers)
    return web.Response(body=json.dumps(payload).encode(), status=status, headers=all_headers)


class ApiError(Exception):
    """An error answer: HTTP status plus Discord's `{"code", "message"[, "errors"]}`.

    `violation` carries the reasons when the request broke a documented request
    shape (a bug in the caller that Discord would refuse); those also land in
    `FakeDiscord.violations` so the test fails even if the caller swallowed the 400.
    """

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: dict[str, Any] | None = None,
        violation: list[str] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.violation = violation
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> web.Response:
        payload: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            payload["errors"] = self.errors
        payload.update(self.extra)
        return json_response(payload, status=self.status, headers=self.headers)


def form_error(field: str, code: str, message: str, *, violation: bool) -> ApiError:
    """Discord's 400/50035 "Invalid Form Body" naming one field."""
    errors: dict[str, Any] = {}
    node = errors
    for part in field.split("."):
        node = node.setdefault(part, {})
    node["_errors"] = [{"code": code, "message": message}]
    return ApiError(
        400,
        50035,
        "Invalid Form Body",
        errors=errors,
        violation=[f"{field}: {message}"] if violation else None,
    )


def unknown(kind: str) -> ApiError:
    codes = {
        "Channel": 10003,
        "Guild": 10004,
        "Member": 10007,
        "Message": 10008,
        "Role": 10011,
        "User": 10013,
        "Emoji": 10014,
        "Webhook": 10015,
        "interaction": 10062,
        "Application Command": 10063,
    }
    return ApiError(404, codes[kind], f"Unknown {kind}")


def missing_access() -> ApiError:
    return ApiError(403, 50001, "Missing Access")


def missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")
