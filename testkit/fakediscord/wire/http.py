"""The REST front of the fake Discord: routing, auth, body and schema checks, injected faults.

Every request is recorded (`fake.requests`), matched to a modelled route,
checked (Authorization, Content-Type, the JSON body against schemas/ and the
OpenAPI spec) and handed to the route's handler; a malformed one is answered
400/50035 like Discord does and recorded as a violation. Faults a test queued
with `fake.fail_next` are answered here, before the handler runs.
"""

from __future__ import annotations

import json
import logging
import math
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from testkit.fakediscord import schemacheck
from testkit.fakediscord.context import Ctx, RecordedRequest, RouteSpec
from testkit.fakediscord.errors import ApiError, json_response
from testkit.fakediscord.wire.rest import RestHandlers
from testkit.fakediscord.wire.routes import match_route

if TYPE_CHECKING:
    from testkit.fakediscord.api import FakeDiscord

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_DEFAULT_FAULT: dict[int, tuple[int, str]] = {
    400: (30013, "Maximum number of guild channels reached (500)"),
    401: (0, "401: Unauthorized"),
    403: (50013, "Missing Permissions"),
    404: (10003, "Unknown Channel"),
    500: (0, "500: Internal Server Error"),
    502: (0, "502: Bad Gateway"),
}
_FAULT_MESSAGES = {50001: "Missing Access", 50013: "Missing Permissions", 10003: "Unknown Channel"}


@dataclass
class Fault:
    method: str
    route: str
    status: int
    remaining: int
    code: int | None
    message: str | None
    retry_after: float
    is_global: bool


class RestFront:
    """The `/api/v10/...` entry point: one per fake."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.rest = RestHandlers(fake)
        self.faults: list[Fault] = []

    def _take_fault(self, method: str, route: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.route == route and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _fault_response(self, fault: Fault) -> web.Response:
        if fault.status == 429:
            body = {
                "message": "You are being rate limited.",
                "retry_after": fault.retry_after,
                "global": fault.is_global,
                "code": 0,
            }
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, math.ceil(fault.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + fault.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
                "X-RateLimit-Bucket": _bucket(fault.route),
                "X-RateLimit-Scope": "global" if fault.is_global else "user",
            }
            if fault.is_global:
                headers["X-RateLimit-Global"] = "true"
            return json_response(body, status=429, headers=headers)
        code, message = _DEFAULT_FAULT.get(fault.status, (0, _REASONS.get(fault.status, "Error")))
        if fault.code is not None:
            code = fault.code
            message = _FAULT_MESSAGES.get(code, message)
        return json_response(
            {"message": fault.message or message, "code": code}, status=fault.status
        )

    # -- the REST entry point ------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        t = time.monotonic()
        raw_path = request.rel_url.raw_path[len(API_PREFIX) :]
        method = request.method
        route, params, path_known = match_route(method, raw_path)
        template = route.template if route else raw_path
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        record = RecordedRequest(
            t=t,
            method=method,
            route=template,
            path=raw_path,
            query=dict(request.query),
            headers=headers,
            params=params,
        )
        self.fake.requests.append(record)
        try:
            response = await self._serve(request, route, params, record, path_known)
        except ApiError as err:
            if err.violation:
                self.fake._violate(method, template, raw_path, err.violation, record.json)
            response = err.response()
            record.answer = {"code": err.code, "message": err.message}
        except Exception as exc:  # a bug in the fake itself must fail the test too
            log.exception("fake Discord crashed on %s %s", method, raw_path)
            self.fake._violate(
                method, template, raw_path, [f"fake Discord internal error: {exc!r}"], record.json
            )
            # 400, not 500: discord.py would retry a 500 for ~25 s before failing.
            response = json_response(
                {"message": f"fake Discord internal error: {exc!r}", "code": 0}, status=400
            )
        if route is not None and response.status < 400:
            response.headers.update(_ratelimit_headers(route.template))
        record.status = response.status
        self.fake._changed()
        return response

    async def _serve(
        self,
        request: web.Request,
        route: RouteSpec | None,
        params: dict[str, str],
        record: RecordedRequest,
        path_known: bool,
    ) -> web.StreamResponse:
        if route is None:
            if path_known:
                raise ApiError(
                    405,
                    0,
                    "405: Method Not Allowed",
                    violation=["method not allowed on this route"],
                )
            raise ApiError(
                404,
                0,
                "404: Not Found",
                violation=[
                    f"route not modelled by the fake Discord: {request.method} {record.path}"
                ],
            )
        if route.auth:
            auth = request.headers.get("Authorization")
            if auth != f"Bot {self.fake.token}":
                raise ApiError(401, 0, "401: Unauthorized")
        body, files = await self._read_body(request, route, record)
        record.json = body
        record.files = files
        if route.body is not None:
            problems = schemacheck.check_local(route.body.schema, body)
            if self.fake.spec is not None:
                problems += self.fake.spec.check(route.method, route.body.spec_path, body)
            if problems:
                raise ApiError(
                    400,
                    50035,
                    "Invalid Form Body",
                    errors=schemacheck.errors_tree(problems),
                    violation=[str(p) for p in problems],
                )
        fault = self._take_fault(route.method, route.template)
        if fault is not None:
            return self._fault_response(fault)
        ctx = Ctx(request=request, route=route, record=record)
        handler = getattr(self.rest, route.handler)
        response: web.StreamResponse = await handler(ctx)
        return response

    async def _read_body(
        self, request: web.Request, route: RouteSpec, record: RecordedRequest
    ) -> tuple[Any, list[dict[str, Any]]]:
        if route.body is None:
            await request.read()
            return None, []
        ctype = request.content_type
        if ctype == "application/json":
            raw = await request.read()
            if not raw:
                return None, []
            try:
                return json.loads(raw), []
            except ValueError as exc:
                record.json = raw.decode(errors="replace")
                raise ApiError(
                    400,
                    50109,
                    "The request body contains invalid JSON.",
                    violation=[f"invalid JSON: {exc}"],
                ) from exc
        if ctype == "multipart/form-data" and route.body.multipart:
            payload: Any = None
            files: list[dict[str, Any]] = []
            reader = await request.multipart()
            async for part in reader:
                if part is None:
                    break
                name = getattr(part, "name", None)
                if name == "payload_json":
                    payload = json.loads(await part.text())  # type: ignore[union-attr]
                elif name and name.startswith("files["):
                    data = await part.read()  # type: ignore[union-attr]
                    files.append(
                        {
                            "field": name,
                            "filename": getattr(part, "filename", None) or "file",
                            "size": len(data),
                            "content_type": part.headers.get("Content-Type"),
                        }
                    )
                else:
                    raise ApiError(
                        400,
                        50035,
                        "Invalid Form Body",
                        violation=[f"unexpected multipart field {name!r}"],
                    )
            return payload, files
        raw = await request.read()
        record.json = raw.decode(errors="replace") if raw else None
        raise ApiError(
            400,
            50035,
            "Invalid Form Body",
            violation=[
                f"Content-Type {request.headers.get('Content-Type')!r} is not accepted here "
                f"(accepted: {_accepted(route)})"
            ],
        )


def _accepted(route: RouteSpec) -> str:
    if route.body is not None and route.body.multipart:
        return "application/json or multipart/form-data"
    return "application/json"


def _bucket(route: str) -> str:
    return f"{zlib.crc32(route.encode()):08x}"


def _ratelimit_headers(route: str) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": _bucket(route),
    }
