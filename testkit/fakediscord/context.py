"""What a REST handler gets: the matched route, its parameters and the parsed body."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from testkit.fakediscord.errors import form_error


@dataclass(frozen=True)
class BodyCheck:
    """What an endpoint with a body accepts, and checks it against.

    `schema` names the hand-written schema in schemas/, `spec_path` the path of the
    same operation in Discord's OpenAPI description; JSON always, multipart/form-data
    (files) too where `multipart`.
    """

    schema: str
    spec_path: str
    multipart: bool = False


@dataclass(frozen=True)
class RouteSpec:
    """One modelled endpoint.

    `template` is Discord's path (the key tests use with `requests_for`); `body` is
    None for an endpoint that takes no body.
    """

    method: str
    template: str
    handler: str
    body: BodyCheck | None = None
    auth: bool = True


@dataclass
class RecordedRequest:
    """One request the fake received (Authorization header left out)."""

    t: float
    method: str
    route: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    files: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    answer: Any = None


@dataclass
class Ctx:
    """The request as the handler sees it: the parsed parts live on `record` once."""

    request: web.Request
    route: RouteSpec
    record: RecordedRequest

    @property
    def params(self) -> dict[str, str]:
        return self.record.params

    @property
    def query(self) -> dict[str, str]:
        return self.record.query

    @property
    def json(self) -> Any:
        return self.record.json

    @property
    def files(self) -> list[dict[str, Any]]:
        return self.record.files

    def snowflake(self, name: str) -> int:
        raw = self.params[name]
        if not raw.isdigit():
            raise form_error(
                name, "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.', violation=True
            )
        return int(raw)
