"""Derived tokens: the DESIGN §3.3 formula, hostile text, and revocation by generation."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.tokens import TokenKind, derive_token, parse_token, verify_token

SECRET = "s" * 40


def test_agent_token_follows_the_design_formula() -> None:
    digest = hmac.new(SECRET.encode(), b"agent:alice:1", hashlib.sha256).digest()
    expected = "agt.alice.1." + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert derive_token(SECRET, TokenKind.AGENT, "alice") == expected


def test_feed_token_differs_from_agent_token() -> None:
    feed = derive_token(SECRET, TokenKind.FEED, "alice")
    assert feed.startswith("ics.alice.1.")
    assert feed.split(".")[3] != derive_token(SECRET, TokenKind.AGENT, "alice").split(".")[3]


def test_token_verifies_with_its_secret_and_generation_only() -> None:
    token = parse_token(derive_token(SECRET, TokenKind.AGENT, "alice", 3))
    assert token is not None
    assert verify_token(token, (SECRET,), 3)
    assert not verify_token(token, (SECRET,), 4)  # generation raised: revoked
    assert not verify_token(token, ("other" * 8,), 3)
    assert verify_token(token, ("other" * 8, SECRET), 3)  # rotation: previous still accepted


def test_a_signature_for_another_agent_does_not_verify() -> None:
    alice = derive_token(SECRET, TokenKind.AGENT, "alice")
    forged = parse_token(alice.replace("agt.alice.", "agt.bob.", 1))
    assert forged is not None
    assert not verify_token(forged, (SECRET,), 1)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "agt",
        "agt.alice.1",
        "xyz.alice.1.sig",
        "agt.Alice.1.sig",
        "agt.alice.0.sig",
        "agt.alice.-1.sig",
        "agt.alice.1e3.sig",
        "agt.alice.99999999999.sig",
        "agt.a.1.b.c",
        "agt..1.sig",
    ],
)
def test_malformed_tokens_do_not_parse(text: str) -> None:
    assert parse_token(text) is None


@given(st.text(max_size=200))
def test_parse_never_raises(text: str) -> None:
    parsed = parse_token(text)
    assert parsed is None or parsed.agent_id in text
