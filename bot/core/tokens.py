"""Derived calendar tokens (DESIGN §3.3): an agent's own tokens, computed, never stored.

Deriving them from `CALENDAR_TOKEN` with HMAC means the calendar server, the
moderator (which hands an agent its token when it spawns it) and the
`calendar token` command agree without sharing a table, and raising an agent's
`token_generation` revokes its tokens everywhere at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from bot.core.models import AGENT_ID_PATTERN, is_valid_agent_id


class TokenKind(StrEnum):
    """What a derived token may do: act as its agent, or only read its ICS feed."""

    AGENT = "agt"
    FEED = "ics"


#: Text that looks like a derived token, wherever it stands (a signature cut short still gives
#: part of it away): for scrubbing logs, never for checking a token.
DERIVED_TOKEN_TEXT = re.compile(
    rf"(?:{'|'.join(kind.value for kind in TokenKind)})\.{AGENT_ID_PATTERN.strip('^$')}"
    r"\.[0-9]{1,7}\.[A-Za-z0-9_-]{10,}"
)


#: The HMAC message's prefix per kind ("agent:<id>:<gen>", "ics:<id>:<gen>").
_MESSAGE_PREFIX = {TokenKind.AGENT: "agent", TokenKind.FEED: "ics"}
#: A generation beyond this is refused: it keeps a token's text bounded.
MAX_TOKEN_GENERATION = 1_000_000


@dataclass(frozen=True, slots=True)
class DerivedToken:
    """The parts of a derived token as presented (not yet checked against a key)."""

    kind: TokenKind
    agent_id: str
    generation: int
    signature: str


def derive_token(secret: str, kind: TokenKind, agent_id: str, generation: int = 1) -> str:
    """`<kind>.<agent id>.<gen>.<b64u(HMAC-SHA256(secret, "<prefix>:<agent id>:<gen>"))>`."""
    return f"{kind.value}.{agent_id}.{generation}.{_signature(secret, kind, agent_id, generation)}"


def _signature(secret: str, kind: TokenKind, agent_id: str, generation: int) -> str:
    message = f"{_MESSAGE_PREFIX[kind]}:{agent_id}:{generation}".encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def parse_token(text: str) -> DerivedToken | None:
    """The parts of `text` if it has a derived token's shape, else None (maybe a full token)."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    kind_text, agent_id, generation_text, signature = parts
    try:
        kind = TokenKind(kind_text)
    except ValueError:
        return None
    if not is_valid_agent_id(agent_id) or not generation_text.isdigit():
        return None
    generation = int(generation_text)
    if not 1 <= generation <= MAX_TOKEN_GENERATION:
        return None
    return DerivedToken(kind, agent_id, generation, signature)


def verify_token(presented: DerivedToken, secrets: tuple[str, ...], generation: int) -> bool:
    """Whether `presented` was derived from one of `secrets` at the agent's current generation.

    Every secret is tried (no early exit on the first miss) and compared in constant time,
    so the answer's timing tells nothing about which part was wrong.
    """
    matched = False
    for secret in secrets:
        expected = _signature(secret, presented.kind, presented.agent_id, generation)
        matched |= hmac.compare_digest(expected.encode(), presented.signature.encode())
    return matched and presented.generation == generation
