"""`/schedule view:timeline` (DESIGN §7): the day(s) as a picture, because people read a
day faster from a picture than from a list.

One row per agent, each slot a bar from its time for its estimated duration,
coloured by status, the present as a vertical line. Rendered with Pillow to a
PNG that Discord shows inline. Pure: slots in, bytes out, no clock and no
Discord, so the same picture can be tested pixel by pixel.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw, ImageFont

from bot.core.models import Slot

WIDTH = 1000
LABEL_W = 150
HEADER_H = 34
ROW_H = 28
BAR_PAD = 5
#: More rows than this and the picture stops being readable; the rest is counted.
MAX_ROWS = 40
BACKGROUND = (32, 34, 37)
GRID = (64, 68, 75)
TEXT = (220, 221, 222)
NOW_LINE = (237, 66, 69)
#: Status -> bar colour; an unknown status (a newer calendar) is drawn neutral.
STATUS_COLOURS: dict[str, tuple[int, int, int]] = {
    "NOT_STARTED": (88, 101, 242),
    "DEFERRED": (250, 166, 26),
    "ONGOING": (59, 165, 93),
    "PAUSED": (254, 231, 92),
    "FINISHED": (46, 117, 80),
    "ABORTED": (185, 50, 55),
    "CANCELLED": (116, 127, 141),
}
UNKNOWN_COLOUR = (150, 150, 150)


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One agent's row: its id and the slots to draw (any that touch the window)."""

    agent_id: str
    slots: Sequence[Slot]


def render_timeline(
    rows: Sequence[TimelineRow], start: datetime, end: datetime, now: datetime, zone: ZoneInfo
) -> bytes:
    """The PNG of `rows` over `[start, end)` (aware), times labelled in `zone`."""
    if end <= start:
        raise ValueError("the timeline's end must be after its start")
    shown = list(rows[:MAX_ROWS])
    hidden = len(rows) - len(shown)
    height = HEADER_H + ROW_H * (len(shown) + (1 if hidden else 0)) + 8
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    scale = _Scale(start, end)
    _draw_grid(draw, font, scale, zone, height)
    for index, row in enumerate(shown):
        top = HEADER_H + index * ROW_H
        draw.text((8, top + 8), row.agent_id[:22], fill=TEXT, font=font)
        for slot in row.slots:
            _draw_bar(draw, scale, slot, top)
    if hidden:
        top = HEADER_H + len(shown) * ROW_H
        draw.text((8, top + 8), f"+{hidden} more agents", fill=TEXT, font=font)
    if start <= now < end:
        x = scale.x(now)
        draw.line([(x, HEADER_H - 6), (x, height)], fill=NOW_LINE, width=2)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class _Scale:
    start: datetime
    end: datetime

    def x(self, moment: datetime) -> int:
        """The pixel column of `moment`, clamped to the plot."""
        span = (self.end - self.start).total_seconds()
        part = (moment - self.start).total_seconds() / span
        part = min(1.0, max(0.0, part))
        return LABEL_W + round(part * (WIDTH - LABEL_W - 10))


def _draw_grid(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    scale: _Scale,
    zone: ZoneInfo,
    height: int,
) -> None:
    hours = (scale.end - scale.start).total_seconds() / 3600
    step = 1 if hours <= 24 else 6 if hours <= 96 else 24
    local = scale.start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    tick = local if local >= scale.start else local + timedelta(hours=1)
    while tick < scale.end:
        wall = tick.astimezone(zone)
        if wall.hour % step == 0:
            x = scale.x(tick)
            draw.line([(x, HEADER_H - 4), (x, height)], fill=GRID, width=1)
            label = f"{wall:%m-%d}" if wall.hour == 0 and hours > 24 else f"{wall:%H}"
            draw.text((x + 2, 8), label, fill=TEXT, font=font)
        tick += timedelta(hours=1)
    draw.text((8, 8), f"{scale.start.astimezone(zone):%Y-%m-%d} {zone.key}", fill=TEXT, font=font)


def _draw_bar(draw: ImageDraw.ImageDraw, scale: _Scale, slot: Slot, top: int) -> None:
    begin = slot.scheduled_at
    finish = begin + timedelta(minutes=slot.estimated_duration_min)
    if finish <= scale.start or begin >= scale.end:
        return
    left, right = scale.x(begin), scale.x(finish)
    right = max(right, left + 3)  # a short slot is still seen
    colour = STATUS_COLOURS.get(str(slot.status), UNKNOWN_COLOUR)
    draw.rectangle([(left, top + BAR_PAD), (right, top + ROW_H - BAR_PAD)], fill=colour)
