"""Headless with ALERT_CHANNEL_ID: said once that alerts need Discord, each alert logged once."""

from __future__ import annotations

import logging

import pytest

from bot.app.alerting import log_alerts
from bot.core.alerts import AlertDesk
from bot.core.clock import FakeClock
from bot.core.events import EventBus, SlotMisfired, WakeFailed


async def test_alerts_go_to_the_log_once_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    bus = EventBus()
    log_alerts(bus, AlertDesk(clock=clock, sync_interval_s=300, per_window=1))
    failed = WakeFailed(at=clock.now(), agent_id="alice", slot_id="s1", error="no spawn")
    for _ in range(3):  # retries of one slot
        await bus.publish(failed)
    for i in range(4):  # more than the channel's rate: the log has no limit
        await bus.publish(SlotMisfired(at=clock.now(), agent_id="bob", slot_id=f"m{i}", note="x"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("alerts need Discord" in w for w in warnings) == 1
    alerts = [w for w in warnings if w.startswith("alert: ")]
    assert len(alerts) == 5
    assert "Wake failed on every waker" in alerts[0] and "`s1`" in alerts[0]
