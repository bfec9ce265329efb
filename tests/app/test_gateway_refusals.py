"""The ends of a gateway session discord.py does not retry (close codes 4004 and 4010 to
4014), each as one line saying what to fix, never the token and never a traceback.

A review of the operator's lifecycle found 4004 (a token reset after login) ending in a
ConnectionClosed traceback; tests/e2e/test_discord_refusals.py runs that one end to end.
"""

from __future__ import annotations

from typing import Any, cast

import discord
import pytest

from bot.app.modes import GATEWAY_REFUSALS, gateway_refusal


def _closed(code: int) -> discord.ConnectionClosed:
    """What discord.py raises for a close it will not retry (the socket is only read when
    no code is given)."""
    return discord.ConnectionClosed(cast(Any, None), shard_id=None, code=code)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (4004, "DISCORD_TOKEN"),
        (4010, "invalid shard"),
        (4011, "sharding required"),
        (4012, "invalid API version"),
        (4013, "invalid intents"),
        (4014, "Message Content intent"),
    ],
)
def test_each_fatal_close_code_has_its_own_line(code: int, words: str) -> None:
    line = gateway_refusal(_closed(code))
    assert line is not None and words in line and f"close {code}" in line
    assert "\n" not in line
    assert ("DISCORD_TOKEN" in line) == (code == 4004)  # only a refused token blames it


def test_the_privileged_intent_error_is_told_where_to_enable_the_intent() -> None:
    line = gateway_refusal(discord.PrivilegedIntentsRequired(None))
    assert line == GATEWAY_REFUSALS[4014]
    assert "Privileged Gateway Intents" in line and "developer portal" in line


def test_another_close_is_named_by_its_code_and_other_errors_are_not_refusals() -> None:
    assert gateway_refusal(_closed(1006)) == "Discord's gateway closed the session (1006)"
    assert gateway_refusal(OSError("unreachable")) is None
