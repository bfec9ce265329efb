"""`/status` for agents another shard schedules (from the calendar) and the change feed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.guild_report import GuildReport
from bot.core.models import SlotStatus
from bot.core.shard_status import IN_PROCESS, CalendarAgentStatus, FeedHealth
from bot.core.shards import Shard
from bot.core.status import NextSlot
from bot.presenters.discord_embed import COLOR_OK, COLOR_WARN
from bot.presenters.discord_status import status_embed
from bot.presenters.status_elsewhere import elsewhere_lines, feed_line
from tests.presenters.presenter_samples import BERLIN, NOW, slot, snapshot, text_of, within_limits


def elsewhere(agent: str = "bob", **fields: object) -> CalendarAgentStatus:
    values: dict[str, object] = {"agent_id": agent, "shard": Shard(1, 2), "as_of": NOW}
    values.update(fields)
    return CalendarAgentStatus(**values)  # type: ignore[arg-type]


def test_a_busy_agent_of_another_shard_is_shown_from_the_calendar_with_its_shard() -> None:
    status = elsewhere(
        current=slot("s-run", NOW - timedelta(minutes=20), status=SlotStatus.ONGOING, title="Fix"),
        next_due=NextSlot.of(
            slot("s-next", NOW + timedelta(minutes=30), title="Plan", priority=70)
        ),
        pending_count=2,
        last_heartbeat_at=NOW - timedelta(minutes=4),
    )
    text = "\n".join(elsewhere_lines(status, BERLIN))
    assert "busy" in text and "**Fix** (`s-run`)" in text and "shard 1/2" in text
    assert "Next: **Plan** (`s-next`) at 13:30 (in 30 min) · prio 70" in text
    assert "Pending today: 2" in text
    assert "Last heartbeat: 12:56 (4 min ago)" in text


def test_an_idle_agent_without_heartbeat_and_a_due_slot() -> None:
    status = elsewhere(
        next_due=NextSlot.of(slot("s-late", NOW - timedelta(minutes=5))), pending_count=1
    )
    text = "\n".join(elsewhere_lines(status, BERLIN))
    assert "idle" in text and "due since 12:55 (5 min ago)" in text
    assert "Last heartbeat: none yet" in text


def test_an_unreadable_calendar_is_said_and_marks_trouble() -> None:
    status = elsewhere(error="cannot reach the calendar: " + "x" * 5000)
    [line] = elsewhere_lines(status, BERLIN)
    assert "could not be read" in line and "shard 1/2" in line and len(line) < 400
    spec = status_embed([snapshot()], BERLIN, others=[status])
    assert "trouble: bob (shard 1/2)" in spec.description
    assert spec.color == COLOR_WARN


def test_every_agent_is_listed_on_shard_0_marked_by_shard() -> None:
    spec = status_embed(
        [snapshot("alice")],
        BERLIN,
        others=[elsewhere("bob"), elsewhere("carol", shard=Shard(1, 2))],
        feed=IN_PROCESS,
        guild=GuildReport(guild_id=1, checked_at=NOW),
    )
    within_limits(spec)
    assert spec.description.startswith("3 agents: 0 busy, 3 idle")
    names = [f.name for f in spec.fields]
    assert names == ["alice", "bob (shard 1/2)", "carol (shard 1/2)", "Calendar", "Discord set-up"]
    assert spec.color == COLOR_OK


def test_one_agent_of_another_shard_alone() -> None:
    spec = status_embed([], BERLIN, others=[elsewhere("bob")], feed=IN_PROCESS)
    assert spec.title == "Status of bob (shard 1/2)"
    assert "idle" in spec.description
    assert [f.name for f in spec.fields] == ["Calendar", "Discord set-up"]


@pytest.mark.parametrize(
    ("feed", "says"),
    [
        (IN_PROCESS, "Calendar changes: live"),
        (
            FeedHealth(live=False, down_since=NOW - timedelta(minutes=7)),
            "⚠️ Calendar changes: feed down since 12:53 (7 min ago), syncing every 5 min",
        ),
        (FeedHealth(live=False), "feed has not answered yet, syncing every 5 min"),
        (FeedHealth(live=False, missing=True), "no change feed (API 1), syncing every 5 min"),
    ],
)
def test_the_feed_line(feed: FeedHealth, says: str) -> None:
    assert says in feed_line(feed, NOW, BERLIN, 300)
    spec = status_embed([snapshot()], BERLIN, feed=feed, sync_interval_s=300)
    assert says in text_of(spec)
    assert spec.color == (COLOR_OK if feed.live else COLOR_WARN)


def test_many_agents_elsewhere_with_hostile_titles_fit_the_limits() -> None:
    others = [
        elsewhere(
            f"agent-{i:03d}",
            shard=Shard(i % 7 + 1, 8),
            current=slot(
                f"s-{i}", NOW, status=SlotStatus.PAUSED, title="**@everyone** " + "t" * 3000
            ),
            next_due=NextSlot.of(slot(f"n-{i}", NOW + timedelta(days=3), title="`x`" * 500)),
            last_heartbeat_at=NOW - timedelta(days=40),
        )
        for i in range(120)
    ]
    spec = status_embed(
        [snapshot()],
        BERLIN,
        others=others,
        feed=FeedHealth(live=False, down_since=NOW - timedelta(days=2)),
        guild=GuildReport(guild_id=1, checked_at=NOW),
    )
    within_limits(spec)
    assert any(f.name.startswith("… and ") for f in spec.fields)
    assert [f.name for f in spec.fields[-2:]] == ["Calendar", "Discord set-up"]
    assert "\\*\\*@everyone\\*\\*" in text_of(spec)  # a title's markdown is shown, not applied
