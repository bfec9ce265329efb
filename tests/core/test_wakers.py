"""The fallback chain and the console waker."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import UTC, datetime

import pytest

from bot.core.agents import AgentConfig
from bot.core.models import Slot
from bot.core.prompt import DEFAULT_WAKE_TEMPLATE, render_wake_prompt
from bot.core.waker import SlotNotifier, WakeResult
from bot.presenters.console import ConsoleWording
from bot.wakers.chain import WakerChain
from bot.wakers.console import ConsoleWaker

AGENT = AgentConfig(id="ada", discord_user_id=1001)
HEADLESS = AgentConfig(id="bob")
SLOT = Slot(
    id="0123456789abcdef",
    agent_id="ada",
    scheduled_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    title="Write the report",
    prompt="Summarise yesterday's runs.",
    updated_at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
)


class Scripted:
    """A waker double answering from a script; `needs_discord` mimics the channel waker."""

    def __init__(self, name: str, answer: WakeResult | Exception, needs_discord: bool = False):
        self.name = name
        self.answer = answer
        self.needs_discord = needs_discord
        self.calls = 0

    def can_wake(self, agent: AgentConfig) -> bool:
        return not self.needs_discord or agent.discord_user_id is not None

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Hanging(Scripted):
    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        self.calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_chain_falls_back_and_says_which_waker_worked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    discord = Scripted("discord", WakeResult.failure("discord", "Missing Access"), True)
    spawn = Scripted("spawn_url", WakeResult.success("spawn_url", reference="wake-1"))
    never = Scripted("spawn_command", WakeResult.success("spawn_command"))
    chain = WakerChain([discord, spawn, never])
    with caplog.at_level(logging.WARNING, logger="bot.wakers.chain"):
        result = await chain.wake(AGENT, SLOT, "prompt")
    assert (result.ok, result.via, result.reference) == (True, "spawn_url", "wake-1")
    assert result.attempts == ("discord: Missing Access", "spawn_url: ok")
    assert never.calls == 0
    assert any("Missing Access" in r.getMessage() for r in caplog.records)


async def test_chain_skips_wakers_not_configured_for_the_agent() -> None:
    discord = Scripted("discord", WakeResult.success("discord"), needs_discord=True)
    spawn = Scripted("spawn_url", WakeResult.success("spawn_url"))
    result = await WakerChain([discord, spawn]).wake(HEADLESS, SLOT, "p")
    assert result.via == "spawn_url"
    assert discord.calls == 0
    assert result.attempts[0] == "discord: not configured for bob"


async def test_chain_failing_everywhere_lists_every_cause() -> None:
    chain = WakerChain(
        [
            Scripted("discord", WakeResult.failure("discord", "guild full")),
            Scripted("spawn_url", RuntimeError("contract broken")),
        ]
    )
    result = await chain.wake(AGENT, SLOT, "p")
    assert not result.ok and result.via == "chain"
    assert result.error is not None
    assert "guild full" in result.error and "RuntimeError: contract broken" in result.error
    assert len(result.attempts) == 2


async def test_chain_with_nothing_configured_says_so() -> None:
    chain = WakerChain([Scripted("discord", WakeResult.success("discord"), needs_discord=True)])
    assert not chain.can_wake(HEADLESS)
    result = await chain.wake(HEADLESS, SLOT, "p")
    assert result.error == "no waker is configured for agent bob"


async def test_chain_bounds_a_hung_waker() -> None:
    spawn = Scripted("spawn_url", WakeResult.success("spawn_url"))
    chain = WakerChain([Hanging("discord", WakeResult.success("x")), spawn], timeout_s=0.05)
    result = await chain.wake(AGENT, SLOT, "p")
    assert result.via == "spawn_url"
    assert result.attempts[0] == "discord: no answer within 0.05 s"


async def test_chain_notifies_through_the_first_waker_with_a_place_for_the_slot() -> None:
    spawn = Scripted("spawn_url", WakeResult.success("spawn_url"))  # cannot post
    out = io.StringIO()
    console = ConsoleWaker(out, words=ConsoleWording())
    chain = WakerChain([spawn, console])
    assert isinstance(chain, SlotNotifier)
    assert not await chain.notify(AGENT, SLOT, "hello")  # never woken there
    await console.wake(AGENT, SLOT, "p")
    assert await chain.notify(AGENT, SLOT, "still there?")
    assert out.getvalue().rstrip().endswith("moderator: still there?")


async def test_console_waker_prints_the_wake_once_like_a_private_channel() -> None:
    out = io.StringIO()
    waker = ConsoleWaker(out, words=ConsoleWording())
    prompt = render_wake_prompt(DEFAULT_WAKE_TEMPLATE, SLOT)
    first = await waker.wake(AGENT, SLOT, prompt)
    assert first.ok and first.reference == "#ada-01234567"
    text = out.getvalue()
    assert "#ada-01234567" in text and "<@1001>" in text
    assert "Write the report" in text and "Summarise yesterday's runs." in text
    assert "DONE" in text and "ABORT" in text
    again = await waker.wake(AGENT, SLOT, prompt)
    assert again.reference == first.reference
    assert out.getvalue() == text  # found again, nothing printed twice
    assert await waker.notify(AGENT, SLOT, "nudge")
    assert "<@" not in out.getvalue()[len(text) :]
