"""Alerts through the real bot on the fake Discord (DESIGN §11): posted once, unmentioning,
rate-limited, and an unusable channel warned about once while the bot runs on."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app.discord_bot import open_bot
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.clock import FakeClock, SystemClock
from bot.core.events import WakeFailed
from bot.core.models import SlotCreate
from bot.discord_io.client import ModeratorBot
from testkit.bots import WAIT_S, harness_settings, started
from testkit.fakediscord import ROLE_OVERWRITE, FakeDiscord, Overwrite, P
from tests.e2e.harness import BotHarness

MakeBot = Callable[..., Awaitable[BotHarness]]
MESSAGES = "/channels/{channel_id}/messages"


async def past_slots(bot: ModeratorBot, calendar_url: str, agent: str, count: int) -> None:
    """`count` slots due ten minutes ago, planned in time (eleven minutes ago, by another
    process on the calendar file) and first seen now, past MISFIRE_GRACE_S; then the
    agent's sync. (Planned into the past now, they would be due from now: DESIGN §4.)"""
    now = bot.clock.now()
    planner = FakeClock(start=now - timedelta(minutes=11))
    path = calendar_url.removeprefix("sqlite:///")
    calendar = await EmbeddedCalendar.open(path, timezone=UTC, clock=planner)
    try:
        for i in range(count):
            new = SlotCreate(
                agent_id=agent,
                scheduled_at=now - timedelta(minutes=10) + timedelta(seconds=i),
                title=f"Late task {i}",
                prompt="do it",
            )
            await calendar.create_slot(new)
    finally:
        await calendar.close()
    await bot.moderator.sync(agent)


def alert_posts(fake: FakeDiscord, channel_id: int) -> list[Any]:
    return [
        r for r in fake.requests_for("POST", MESSAGES) if r.path.endswith(f"/{channel_id}/messages")
    ]


async def wait_alerts(fake: FakeDiscord, channel_id: int, count: int) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        found = fake.messages_in(channel_id)
        return found if len(found) >= count else None

    found = await fake.wait_for(enough, WAIT_S, what=f"{count} alert(s)")
    assert found is not None
    return found


@pytest.fixture
def alerts(fake_discord: FakeDiscord) -> int:
    """The alert channel's id: a text channel the bot may post in."""
    return fake_discord.add_channel("alerts")


async def test_a_misfire_posts_one_alert_that_mentions_nobody(
    fake_discord: FakeDiscord, make_moderator_bot: MakeBot, alerts: int
) -> None:
    fake = fake_discord
    h = await make_moderator_bot(alert_channel_id=alerts, misfire_grace_s=60)
    await past_slots(h.bot, h.settings.calendar_url, "alice", 1)
    [message] = await wait_alerts(fake, alerts, 1)
    assert "Misfire" in message["content"] and "**alice**" in message["content"]
    [request] = alert_posts(fake, alerts)
    assert request.json["allowed_mentions"]["parse"] == []
    assert not request.json["allowed_mentions"].get("roles")
    assert not request.json["allowed_mentions"].get("users")
    await h.bot.moderator.sync("alice")  # the slot is seen again: old news
    await h.woken_slot("bob")  # the bot went on; a wake is not an alert
    assert len(fake.messages_in(alerts)) == 1


async def test_a_failed_wake_posts_once_however_often_it_is_retried(
    fake_discord: FakeDiscord, make_moderator_bot: MakeBot, alerts: int
) -> None:
    fake = fake_discord
    h = await make_moderator_bot(alert_channel_id=alerts, misfire_grace_s=60)
    failures: list[WakeFailed] = []
    h.bot.moderator.events.subscribe(WakeFailed, failures.append)
    fake.fail_next("POST", "/guilds/{guild_id}/channels", status=403, count=50)
    slot = await h.add_slot("alice", in_s=-1)
    [message] = await wait_alerts(fake, alerts, 1)
    assert "Wake failed on every waker" in message["content"] and slot.id in message["content"]
    assert alert_posts(fake, alerts)[0].json["allowed_mentions"]["parse"] == []
    await h.bot.moderator.check_all(h.bot.clock.now() + timedelta(hours=1))  # the retry is due
    await fake.wait_for(lambda: len(failures) >= 2 or None, WAIT_S, what="the retry failing")
    assert {f.slot_id for f in failures} == {slot.id}
    # a later alert is posted after anything the retry would have queued: then look
    await past_slots(h.bot, h.settings.calendar_url, "bob", 1)
    messages = await wait_alerts(fake, alerts, 2)
    assert ["Wake failed" in m["content"] for m in messages] == [True, False]
    assert "Misfire" in messages[1]["content"]


@contextlib.asynccontextmanager
async def bot_with_alert_clock(
    fake: FakeDiscord, tmp_path: Path, clock: FakeClock, **overrides: Any
) -> AsyncIterator[ModeratorBot]:
    settings = harness_settings(fake, tmp_path, **overrides)
    agents = [AgentConfig(id="alice", discord_user_id=fake.agents["alice"].id)]
    bot = await open_bot(
        settings, agents, clock=SystemClock(), alert_clock=clock, guild_ready_timeout=0.5
    )
    async with started(fake, bot):
        yield bot


async def test_a_burst_posts_the_limit_then_one_summary(
    fake_discord: FakeDiscord, tmp_path: Path, alerts: int
) -> None:
    fake = fake_discord
    clock = FakeClock()
    async with bot_with_alert_clock(
        fake, tmp_path, clock, alert_channel_id=alerts, misfire_grace_s=60
    ) as bot:
        await past_slots(bot, harness_settings(fake, tmp_path).calendar_url, "alice", 20)
        first = await wait_alerts(fake, alerts, 5)
        assert all("Misfire" in m["content"] for m in first)
        await clock.advance(60)  # the rate allows one more message: the summary
        messages = await wait_alerts(fake, alerts, 6)
        assert len(messages) == 6
        assert messages[5]["content"].startswith("📋 **15 more alert(s)**")
        assert "15 × misfire" in messages[5]["content"]
        assert all(len(m["content"]) <= 2000 for m in messages)
        assert all(r.json["allowed_mentions"]["parse"] == [] for r in alert_posts(fake, alerts))


async def test_an_alert_channel_the_bot_cannot_see_is_warned_about_and_the_bot_runs(
    fake_discord: FakeDiscord, make_moderator_bot: MakeBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_discord
    hidden = Overwrite(id=fake.bot_role.id, type=ROLE_OVERWRITE, allow=0, deny=P.VIEW_CHANNEL)
    alerts = fake.add_channel("secret-alerts", overwrites=[hidden])
    caplog.set_level(logging.INFO)
    h = await make_moderator_bot(alert_channel_id=alerts, misfire_grace_s=60)

    def warnings() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING and f"ALERT_CHANNEL_ID={alerts}" in r.getMessage()
        ]

    await fake.wait_for(lambda: warnings() or None, WAIT_S, what="the warning at start")
    assert "cannot see the channel" in warnings()[0]
    assert "written to this log" in warnings()[0]
    await h.woken_slot("bob")  # the bot still wakes agents
    await past_slots(h.bot, h.settings.calendar_url, "alice", 1)

    def logged_alert() -> list[str] | None:
        found = [r.getMessage() for r in caplog.records if "Misfire" in r.getMessage()]
        return found or None

    [line] = await fake.wait_for(logged_alert, WAIT_S, what="the alert in the log") or []
    assert "not posted in ALERT_CHANNEL_ID" in line
    assert len(warnings()) == 2  # the start warning once, then the alert itself
    assert fake.messages_in(alerts) == []
