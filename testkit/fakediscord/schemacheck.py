"""Request-body checks: the project's own hand-written schemas, plus Discord's spec.

Two layers on purpose. The hand-written schemas (schemas/*.json) are small and
strict (unknown keys are errors: Discord silently ignores a misspelt
`allowed_mention`, which is exactly the bug to catch). The official OpenAPI
description, when it is on disk, is the second opinion on what the real API
accepts. It is optional: a clone without ../shared still runs every test.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).with_name("schemas")
REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_URI = "urn:discord-openapi"

# Keys that Discord documents as strings holding a permission bit set but the
# spec types as integers; discord.py sends some as strings, some as integers.
_BITSET_KEYS = frozenset({"allow", "deny", "default_member_permissions", "permissions"})


@dataclass(frozen=True)
class Problem:
    """One schema complaint: where in the body, and what."""

    source: str
    path: tuple[str | int, ...]
    message: str

    def __str__(self) -> str:
        where = "/".join(str(p) for p in self.path) or "<body>"
        return f"[{self.source}] {where}: {self.message}"


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


def default_spec_path() -> Path | None:
    env = os.environ.get("DISCORD_OPENAPI_SPEC")
    if env:
        path = Path(env)
        return path if path.is_file() else None
    path = (REPO_ROOT / ".." / "shared" / "discord-api-spec" / "openapi.json").resolve()
    return path if path.is_file() else None


def _best_errors(errors: Iterable[ValidationError], limit: int = 5) -> list[ValidationError]:
    """The most specific errors first, descending into anyOf/oneOf contexts."""
    flat: list[ValidationError] = []
    for err in errors:
        if err.context:
            best = sorted(err.context, key=relevance)
            flat.append(best[0] if best else err)
        else:
            flat.append(err)
    return sorted(flat, key=relevance)[:limit]


@lru_cache(maxsize=1)
def _local_registry() -> Registry:
    registry: Registry = Registry()
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(contents)
        registry = registry.with_resource(
            contents["$id"], Resource.from_contents(contents, default_specification=DRAFT202012)
        )
    return registry


@cache
def _local_validator(name: str) -> Draft202012Validator:
    contents = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return Draft202012Validator(contents, registry=_local_registry())


@lru_cache(maxsize=1)
def _fast_registry() -> jsonschema_rs.Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], contents))
    return jsonschema_rs.Registry(resources)


@cache
def _fast_validator(name: str) -> jsonschema_rs.Validator:
    contents = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return jsonschema_rs.validator_for(contents, registry=_fast_registry())


def check_local(name: str, body: Any) -> list[Problem]:
    # Same schemas, two engines: jsonschema-rs passes a good body in microseconds
    # (the Python walk cost ~2 ms a body, a fifth of a wake burst's CPU); the
    # Python validator still has the last word, and writes the messages.
    if _fast_validator(name).is_valid(body):
        return []
    validator = _local_validator(name)
    return [
        Problem(f"schemas/{name}.json", tuple(e.absolute_path), _short(e.message))
        for e in _best_errors(validator.iter_errors(body))
    ]


def _normalize_for_spec(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in _BITSET_KEYS and isinstance(item, str) and item.isdigit():
                out[key] = int(item)
            else:
                out[key] = _normalize_for_spec(item)
        return out
    if isinstance(value, list):
        return [_normalize_for_spec(v) for v in value]
    return value


class SpecChecker:
    """Validates bodies against the request schema of one spec operation."""

    def __init__(self, path: Path) -> None:
        spec = json.loads(path.read_text(encoding="utf-8"))
        schemas = spec["components"]["schemas"]
        # Known, documented difference (spec README): discord.py sends snowflakes
        # as JSON integers, the spec types them as strings. Discord takes both.
        original = schemas["SnowflakeType"]
        schemas["SnowflakeType"] = {"anyOf": [original, {"type": "integer", "minimum": 0}]}
        self.path = path
        self._spec = spec
        resource = DRAFT202012.create_resource(spec)
        self._registry: Registry = Registry().with_resource(SPEC_URI, resource)
        self._validators: dict[tuple[str, str], Draft202012Validator | None] = {}

    def has_operation(self, method: str, spec_path: str) -> bool:
        return self._validator(method, spec_path) is not None

    def _validator(self, method: str, spec_path: str) -> Draft202012Validator | None:
        key = (method.lower(), spec_path)
        if key not in self._validators:
            op = self._spec["paths"].get(spec_path, {}).get(method.lower())
            schema = None
            if op is not None:
                content = op.get("requestBody", {}).get("content", {})
                if "application/json" in content:
                    pointer = "/".join(
                        p.replace("~", "~0").replace("/", "~1")
                        for p in ["paths", spec_path, method.lower(), "requestBody", "content"]
                    )
                    schema = {"$ref": f"{SPEC_URI}#/{pointer}/application~1json/schema"}
            self._validators[key] = (
                None if schema is None else Draft202012Validator(schema, registry=self._registry)
            )
        return self._validators[key]

    def check(self, method: str, spec_path: str, body: Any) -> list[Problem]:
        validator = self._validator(method, spec_path)
        if validator is None:
            return []
        instance = _normalize_for_spec(copy.deepcopy(body))
        return [
            Problem(
                f"openapi {method.upper()} {spec_path}", tuple(e.absolute_path), _short(e.message)
            )
            for e in _best_errors(validator.iter_errors(instance))
        ]


_SPEC_CACHE: dict[Path, SpecChecker] = {}


def load_spec(path: Path | None) -> SpecChecker | None:
    """The (cached) spec checker for `path`, or None when there is no spec at hand."""
    if path is None:
        return None
    path = path.resolve()
    if path not in _SPEC_CACHE:
        _SPEC_CACHE[path] = SpecChecker(path)
    return _SPEC_CACHE[path]


def errors_tree(problems: list[Problem]) -> dict[str, Any]:
    """Discord's nested `errors` object for a 50035 answer (discord.py flattens it)."""
    tree: dict[str, Any] = {}
    for problem in problems:
        node = tree
        for part in problem.path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append(
            {"code": "FAKE_SCHEMA_VIOLATION", "message": f"{problem.message} [{problem.source}]"}
        )
    return tree
