"""The timeline picture, read back pixel by pixel: bars where the slots are, coloured by status."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from bot.core.models import Slot, SlotStatus
from bot.presenters.timeline import (
    HEADER_H,
    MAX_ROWS,
    NOW_LINE,
    ROW_H,
    STATUS_COLOURS,
    TimelineRow,
    _Scale,
    render_timeline,
)
from testkit.slots import slot_at

DAY = datetime(2026, 12, 7, tzinfo=UTC)
ZONE = ZoneInfo("UTC")


def slot(slot_id: str, hour: float, status: SlotStatus, minutes: int = 60) -> Slot:
    at = DAY + timedelta(hours=hour)
    return slot_at(at, slot_id, estimated_duration_min=minutes, status=status)


def picture(rows: list[TimelineRow], now: datetime) -> Image.Image:
    data = render_timeline(rows, DAY, DAY + timedelta(days=1), now, ZONE)
    assert data.startswith(b"\x89PNG")
    return Image.open(io.BytesIO(data)).convert("RGB")


def pixel_at(image: Image.Image, moment: datetime, row: int) -> tuple[int, int, int]:
    x = _Scale(DAY, DAY + timedelta(days=1)).x(moment)
    value = image.getpixel((x + 2, HEADER_H + row * ROW_H + ROW_H // 2))
    assert isinstance(value, tuple)
    return (int(value[0]), int(value[1]), int(value[2]))


def test_bars_sit_at_their_time_in_their_status_colour() -> None:
    rows = [
        TimelineRow("ada", [slot("a", 9, SlotStatus.FINISHED), slot("b", 14, SlotStatus.ONGOING)]),
        TimelineRow("bob", [slot("c", 18, SlotStatus.ABORTED, minutes=120)]),
    ]
    image = picture(rows, now=DAY + timedelta(hours=15, minutes=30))
    assert pixel_at(image, DAY + timedelta(hours=9), 0) == STATUS_COLOURS["FINISHED"]
    assert pixel_at(image, DAY + timedelta(hours=14), 0) == STATUS_COLOURS["ONGOING"]
    assert pixel_at(image, DAY + timedelta(hours=19), 1) == STATUS_COLOURS["ABORTED"]
    assert pixel_at(image, DAY + timedelta(hours=12), 0) != STATUS_COLOURS["ONGOING"]  # a gap
    x_now = _Scale(DAY, DAY + timedelta(days=1)).x(DAY + timedelta(hours=15, minutes=30))
    assert image.getpixel((x_now, HEADER_H + ROW_H + 2)) == NOW_LINE


def test_slots_outside_the_window_are_not_drawn_and_many_agents_are_counted() -> None:
    far = slot("z", 30, SlotStatus.NOT_STARTED)
    rows = [TimelineRow(f"agent-{i}", [far]) for i in range(MAX_ROWS + 5)]
    image = picture(rows, now=DAY - timedelta(hours=1))
    assert image.height == HEADER_H + ROW_H * (MAX_ROWS + 1) + 8
    colours = {image.getpixel((x, HEADER_H + ROW_H // 2)) for x in range(160, 990)}
    assert STATUS_COLOURS["NOT_STARTED"] not in colours
    assert NOW_LINE not in colours  # now is before the window


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="after its start"):
        render_timeline([], DAY, DAY, DAY, ZONE)


def test_a_week_renders_with_a_bounded_size() -> None:
    rows = [TimelineRow("ada", [slot(str(i), i * 3, SlotStatus.NOT_STARTED) for i in range(56)])]
    data = render_timeline(rows, DAY, DAY + timedelta(days=7), DAY, ZoneInfo("Europe/Berlin"))
    assert len(data) < 200_000
