"""What the demo prints before and after the run: the plan, and the summary table.

The summary table is the demo's promise (tests read it back), so its columns
are fixed here, next to the plan it reports on.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from bot.app.demo.story import SlotRecord, Story
from bot.core.models import SlotStatus
from bot.presenters.console import format_lateness
from bot.presenters.formatting import one_line


@dataclass(slots=True)
class Outcome:
    origin: datetime
    records: list[SlotRecord]
    stopped_early: bool
    interrupted: bool
    problems: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)


def print_plan(story: Story, records: list[SlotRecord], origin: datetime) -> None:
    story.plain(
        f"The calendar for this run, made just now ({origin:%H:%M:%S} UTC); due = seconds from now:"
    )
    story.plain(f"  {'due':>5}  {'agent':<9} {'prio':>4}  {'slot':<20}  why it is here")
    for r in sorted(records, key=lambda r: (r.scheduled_at, -r.plan.priority)):
        story.plain(
            f"  {r.plan.due_s:>5.1f}  {r.plan.agent:<9} {r.plan.priority:>4}  "
            f"{one_line(r.plan.title, 20):<20}  {r.plan.shows}"
        )
    story.plain()


SUMMARY_COLUMNS = ("#", "agent", "slot", "prio", "due", "woken", "late", "ended", "status", "note")


def summary_rows(records: Sequence[SlotRecord], origin: datetime) -> list[tuple[str, ...]]:
    """One row per slot, in wake order; times are seconds since `origin`."""

    def secs(moment: datetime | None) -> str:
        return f"{(moment - origin).total_seconds():.3f}" if moment is not None else "-"

    rows: list[tuple[str, ...]] = []
    for r in records:
        notes: list[str] = []
        if r.deferred:
            notes.append("deferred while busy")
        if r.pauses:
            notes.append("paused once" if r.pauses == 1 else f"paused {r.pauses} times")
        if r.note:
            notes.append(r.note)
        if not r.status.is_final:
            notes.append("still open when the demo stopped")
        rows.append(
            (
                str(r.wake_order) if r.wake_order is not None else "-",
                r.plan.agent,
                one_line(r.plan.title, 20),
                str(r.plan.priority),
                secs(r.scheduled_at),
                secs(r.woken_at),
                format_lateness(r.woken_at - r.scheduled_at) if r.woken_at else "-",
                secs(r.ended_at),
                r.status.value,
                "; ".join(notes) or "-",
            )
        )
    return rows


def print_summary(out: TextIO, outcome: Outcome, took_s: float) -> None:
    rows = summary_rows(outcome.records, outcome.origin)
    table = [SUMMARY_COLUMNS, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(SUMMARY_COLUMNS) - 1)]
    right = {0, 3, 4, 5, 6, 7}
    out.write(
        "\nSummary  (# = wake order; due, woken, ended = seconds since the start;\n"
        "          late = woken minus scheduled time)\n"
    )
    for row in table:
        cells = [
            row[i].rjust(widths[i]) if i in right else row[i].ljust(widths[i])
            for i in range(len(widths))
        ]
        out.write("  " + "  ".join(cells) + "  " + row[-1] + "\n")

    records = outcome.records
    counts = {s: sum(1 for r in records if r.status is s) for s in SlotStatus}
    shown = [f"{n} {s.value}" for s, n in counts.items() if n]
    out.write(f"\nTotals: {len(records)} slots: {', '.join(shown)}.\n")
    deferred = [r for r in records if r.deferred]
    if deferred:
        woken = sum(1 for r in deferred if r.woken_at is not None)
        then = (
            "each woken as soon as its agent was idle"
            if woken == len(deferred)
            else f"{woken} of them woken before the demo stopped"
        )
        out.write(f"  {len(deferred)} deferred while their agent was busy; {then}.\n")
    on_time = [
        (r.woken_at - r.scheduled_at).total_seconds() * 1000
        for r in records
        if r.woken_at is not None and not r.deferred
    ]
    if on_time:
        out.write(
            f"  Lateness of the {len(on_time)} slot(s) woken at their time: "
            f"median {statistics.median(on_time):.0f} ms, worst {max(on_time):.0f} ms\n"
            "  (the precise timer on the system clock, no polling).\n"
        )
    if outcome.problems:
        out.write("  The moderator also reported:\n")
        for text in outcome.problems:
            out.write(f"    {text}\n")
    if outcome.interrupted:
        ending = "interrupted"
    elif outcome.stopped_early:
        ending = "stopped at the --seconds bound"
    else:
        ending = "done"
    out.write(
        f"  Demo {ending} in {took_s:.1f} s; its calendar and state files were deleted.\n\n"
        "To run it for real: set DISCORD_TOKEN, DISCORD_GUILD_ID and AGENTS_FILE (README.md),\n"
        "check them with `python -m bot check-config`, then run `python -m bot`.\n"
    )
    out.flush()
