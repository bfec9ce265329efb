"""`/status`: an agent's state and troubles, the guild check, many agents within the limits."""

from __future__ import annotations

from datetime import timedelta

from bot.core.guild_report import AgentNotInGuild, GuildReport
from bot.core.models import SlotStatus
from bot.core.status import AgentActivity, CurrentSlot, NextSlot, WakeInfo
from bot.core.waker import WakeResult
from bot.presenters.discord_status import failed_attempts, status_embed
from tests.presenters.presenter_samples import (
    BERLIN,
    NOW,
    snapshot,
    text_of,
    within_limits,
)


def test_a_busy_overdue_agent_with_failures_is_described_fully() -> None:
    snap = snapshot(
        state=AgentActivity.BUSY,
        current=CurrentSlot(
            id="cur-1",
            title="Ship it",
            status=SlotStatus.ONGOING,
            reference="123",
            overdue=True,
            last_activity_at=NOW - timedelta(hours=1),
        ),
        next_due=NextSlot(id="nx-1", title="Next one", priority=80, at=NOW + timedelta(minutes=5)),
        pending_count=3,
        deferred_count=1,
        session_deferred_count=2,
        consecutive_sync_failures=2,
        last_sync_error="CalendarUnavailable: down",
        last_sync_error_at=NOW - timedelta(minutes=1),
        last_wake=WakeInfo(
            at=NOW - timedelta(minutes=2),
            slot_id="w-1",
            result=WakeResult.failure("discord", "403 Missing Access"),
        ),
        consecutive_wake_failures=2,
        wake_retry_at=NOW + timedelta(minutes=4),
    )
    spec = status_embed([snap], BERLIN, links={"cur-1": "[#alice-cur](https://x/1)"}, guild=None)
    text = text_of(spec)
    within_limits(spec)
    assert spec.title == "Status of alice"
    assert "busy" in text and "Ship it" in text and "[#alice-cur](https://x/1)" in text
    assert "overdue" in text and "silent since 12:00 (1 h ago)" in text
    assert "Next: **Next one** (`nx-1`) at 13:05 (in 5 min) · prio 80" in text
    assert "Pending: 3 (1 deferred, 2 waiting until the agent is idle)" in text
    assert "Last sync: 12:57 (3 min ago)" in text
    assert "sync failing: 2 in a row" in text and "down" in text
    assert "❌ `w-1` failed via discord" in text and "403 Missing Access" in text
    assert "retry at 13:04 (in 4 min)" in text
    assert "not checked yet" in text
    assert spec.color == 0xE67E22


def test_a_claim_failing_while_syncs_work_shows_with_its_time() -> None:
    snap = snapshot(
        last_calendar_error="claim s-9: CalendarUnavailable: POST start timed out",
        last_calendar_error_at=NOW - timedelta(minutes=2),
    )
    assert not snap.healthy
    spec = status_embed([snap], BERLIN)
    text = text_of(spec)
    assert (
        "⚠️ calendar failing during checks, last at 12:58 (2 min ago): "
        "claim s-9: CalendarUnavailable: POST start timed out"
    ) in text
    assert "sync failing" not in text  # the syncs themselves are fine
    assert spec.color == 0xE67E22
    many = status_embed([snap, snapshot("bob")], BERLIN)
    assert "trouble: alice" in many.description
    calm = text_of(status_embed([snapshot()], BERLIN))
    assert "calendar failing" not in calm


def test_a_state_file_refusing_writes_is_said_with_its_time_and_marks_trouble() -> None:
    snap = snapshot(
        last_state_error="state file /data/state.db: record_intent failed: disk full",
        last_state_error_at=NOW - timedelta(minutes=3),
    )
    assert not snap.healthy
    text = text_of(status_embed([snap], BERLIN))
    assert (
        "⚠️ state file refusing writes, last at 12:57 (3 min ago): "
        "state file /data/state.db: record_intent failed: disk full"
    ) in text
    assert "state file" not in text_of(status_embed([snapshot()], BERLIN))


def test_a_wake_that_fell_back_says_why_the_first_waker_failed() -> None:
    tried = (
        "discord: missing Manage Channels",
        "webhook: not configured for alice",
        "spawn: ok",
    )
    fell_back = WakeResult(ok=True, via="spawn", reference="wake-1", attempts=tried)
    wake = WakeInfo(at=NOW - timedelta(minutes=1), slot_id="w-2", result=fell_back)
    assert failed_attempts(fell_back) == ["discord: missing Manage Channels"]
    text = text_of(status_embed([snapshot(last_wake=wake)], BERLIN))
    assert (
        "Last wake: ✅ `w-2` via spawn, 12:59 (1 min ago); "
        "before it: discord: missing Manage Channels"
    ) in text
    assert "webhook" not in text  # not configured for the agent: never tried
    first_try = WakeResult(ok=True, via="discord", reference="1", attempts=("discord: ok",))
    plain = WakeInfo(at=NOW, slot_id="w-3", result=first_try)
    plain_text = text_of(status_embed([snapshot(last_wake=plain)], BERLIN))
    assert "Last wake: ✅ `w-3` via discord, 13:00 (just now)" in plain_text
    assert "before it" not in plain_text


def test_an_idle_agent_and_a_due_slot() -> None:
    snap = snapshot(
        next_due=NextSlot(id="d", title="Due", priority=50, at=NOW - timedelta(minutes=2))
    )
    text = text_of(status_embed([snap], BERLIN))
    assert "idle" in text and "due since 12:58 (2 min ago)" in text and "Last sync" in text


def test_the_guild_check_shows_missing_permissions_and_absent_agents() -> None:
    report = GuildReport(
        guild_id=1,
        checked_at=NOW - timedelta(minutes=1),
        missing_permissions=("Embed Links",),
        non_members=(AgentNotInGuild("dave", 42),),
    )
    text = text_of(status_embed([snapshot(), snapshot("bob")], BERLIN, guild=report))
    assert "missing permissions: **Embed Links**" in text
    assert "agents not in the guild: **dave (user 42)**" in text
    assert "(checked 1 min ago)" in text
    good = GuildReport(guild_id=1, checked_at=NOW)
    assert "all required permissions" in text_of(status_embed([snapshot()], BERLIN, guild=good))


def test_many_agents_fit_with_and_n_more() -> None:
    snaps = [
        snapshot(f"agent-{i:03d}", last_sync_error="x" * 300, consecutive_sync_failures=1)
        for i in range(80)
    ]
    spec = status_embed(snaps, BERLIN, guild=GuildReport(guild_id=1, checked_at=NOW))
    within_limits(spec)
    assert any(f.name.startswith("… and ") for f in spec.fields)
    assert spec.fields[-1].name == "Discord set-up"
