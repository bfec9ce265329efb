"""An agent as the store sees it: its heartbeats and the status they add up to (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.calendar.store.dialect import Db, Row
from bot.calendar.store.occurrences import due_slots
from bot.calendar.store.rows import (
    ACTIVE_SQL,
    PENDING_SQL,
    SLOT_COLUMNS,
    fetch_one,
    from_us,
    readable_slots,
)
from bot.core.calendar import BadRequest
from bot.core.models import (
    AgentHeartbeat,
    AgentState,
    AgentStatus,
    HeartbeatBatch,
    HeartbeatStatus,
    Slot,
    describe_validation,
)
from bot.core.validation import check_known_agent

#: A heartbeat older than this no longer says anything about the agent (DESIGN §3).
HEARTBEAT_FRESH = timedelta(minutes=10)


async def record_heartbeat(
    db: Db,
    agent_id: str,
    status: HeartbeatStatus,
    current_slot_id: str | None,
    now_us: int,
) -> list[Row]:
    """Keep the beat and answer the agent's due slots in selection order (priority, time, id)."""
    await db.execute(
        "INSERT INTO heartbeats (agent_id, status, current_slot_id, at_us) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET "
        "status = excluded.status, current_slot_id = excluded.current_slot_id, "
        "at_us = excluded.at_us",
        (agent_id, status.value, current_slot_id, now_us),
    )
    rows = await db.execute_fetchall(
        f"SELECT {SLOT_COLUMNS} FROM slots WHERE agent_id = ? "
        f"AND status IN ({PENDING_SQL}) AND scheduled_at_us <= ? "
        "ORDER BY priority DESC, scheduled_at_us, id",
        (agent_id, now_us),
    )
    return list(rows)


async def beat(
    db: Db,
    agent_id: str,
    status: HeartbeatStatus,
    current_slot_id: str | None,
    *,
    now_us: int,
    tz: ZoneInfo,
) -> list[Slot]:
    """One heartbeat inside the caller's transaction: the single and the batched call share it,
    so an agent in a batch gets exactly the slots its own heartbeat would."""
    rows = await record_heartbeat(db, agent_id, status, current_slot_id, now_us)
    return await due_slots(db, readable_slots(rows, tz), agent_id, now_us=now_us, tz=tz)


def checked_batch(
    beats: Sequence[AgentHeartbeat], known: Collection[str] | None
) -> list[AgentHeartbeat]:
    """The entries of a batched heartbeat held to `HeartbeatBatch` again (a caller may have
    built them unchecked), every agent known: refused as a whole before anything is kept."""
    try:
        batch = HeartbeatBatch.model_validate(
            {"agents": [entry.model_dump(mode="json") for entry in beats]}
        )
    except ValidationError as exc:
        raise BadRequest(describe_validation(exc, limit=5), code="validation_error") from None
    for entry in batch.agents:
        check_known_agent(entry.agent_id, known)
    return batch.agents


def _beat_time(beat: Row | None, tz: ZoneInfo) -> datetime | None:
    """When the beat was, or None when there is none or an older version stored a time this
    one cannot represent (then the agent reads as offline until it beats again)."""
    if beat is None:
        return None
    try:
        return from_us(beat["at_us"], tz)
    except (TypeError, ValueError, OverflowError):
        return None


async def read_agent_status(db: Db, agent_id: str, *, now: datetime, tz: ZoneInfo) -> AgentStatus:
    """Busy while the agent holds a slot or its fresh beat says so; offline without a fresh beat."""
    active = await fetch_one(
        db,
        f"SELECT id FROM slots WHERE agent_id = ? AND status IN ({ACTIVE_SQL}) "
        "ORDER BY status = 'ONGOING' DESC, updated_at_us DESC LIMIT 1",
        (agent_id,),
    )
    beat = await fetch_one(
        db,
        "SELECT status, current_slot_id, at_us FROM heartbeats WHERE agent_id = ?",
        (agent_id,),
    )
    last_at = _beat_time(beat, tz)
    fresh = last_at is not None and now - last_at <= HEARTBEAT_FRESH
    if active is not None:
        state, current = AgentState.BUSY, str(active["id"])
    elif beat is not None and fresh and beat["status"] == HeartbeatStatus.BUSY.value:
        state, current = AgentState.BUSY, beat["current_slot_id"]
    elif not fresh:
        state, current = AgentState.OFFLINE, None
    else:
        state, current = AgentState.IDLE, None
    return AgentStatus(
        agent_id=agent_id, status=state, current_slot_id=current, last_heartbeat_at=last_at
    )
