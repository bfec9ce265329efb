"""Sample slots and status snapshots for the presenter tests, and the embed-limit check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.models import Slot, SlotStatus
from bot.core.status import AgentActivity, AgentSnapshot
from bot.presenters.discord_embed import (
    EMBED_TOTAL_LIMIT,
    FIELD_COUNT_LIMIT,
    FIELD_VALUE_LIMIT,
    EmbedSpec,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 13:00 in Berlin
TODAY = date(2026, 3, 2)


def slot(
    slot_id: str,
    at: datetime,
    *,
    agent: str = "alice",
    status: SlotStatus = SlotStatus.NOT_STARTED,
    title: str = "Review",
    priority: int = 50,
) -> Slot:
    return Slot(
        id=slot_id,
        agent_id=agent,
        scheduled_at=at,
        status=status,
        title=title,
        priority=priority,
        updated_at=at,
    )


def snapshot(agent: str = "alice", **fields: object) -> AgentSnapshot:
    values: dict[str, object] = {
        "agent_id": agent,
        "as_of": NOW,
        "state": AgentActivity.IDLE,
        "current": None,
        "next_due": None,
        "last_sync_at": NOW - timedelta(minutes=3),
        "last_sync_age_s": 180.0,
        "last_sync_error": None,
        "last_sync_error_at": None,
        "consecutive_sync_failures": 0,
        "pending_count": 0,
        "deferred_count": 0,
        "session_deferred_count": 0,
        "last_wake": None,
        "consecutive_wake_failures": 0,
        "wake_retry_at": None,
    }
    values.update(fields)
    return AgentSnapshot(**values)  # type: ignore[arg-type]


def text_of(spec: EmbedSpec) -> str:
    parts = [spec.title, spec.description, spec.footer or ""]
    for fld in spec.fields:
        parts += [fld.name, fld.value]
    return "\n".join(parts)


def within_limits(spec: EmbedSpec) -> None:
    assert spec.total_chars() <= EMBED_TOTAL_LIMIT
    assert len(spec.fields) <= FIELD_COUNT_LIMIT
    assert len(spec.title) <= 256 and len(spec.description) <= 4096
    assert all(len(f.value) <= FIELD_VALUE_LIMIT and len(f.name) <= 256 for f in spec.fields)
    assert all(f.value and f.name for f in spec.fields)
