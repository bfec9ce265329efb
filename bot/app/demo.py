"""`python -m bot demo`: the whole flow in a few seconds, with nothing configured.

A newcomer should see what the moderator does before setting up a Discord
application, so the demo runs the *real* parts wherever it can: the embedded
calendar and the state store (in a throw-away folder), the `Moderator` with its
precise timers on the system clock, and the console waker behind a
`WakerChain`. Only two things are stand-ins, and both sit exactly where Discord
would: the wake is printed instead of posted (the console waker), and the
agents are scripted coroutines whose messages go through the same path a
Discord reply takes (`parse_reply`, then `Moderator.apply_action` or
`record_progress`, then an acknowledgement in the channel).

The scenario is chosen to show the rules that matter (DESIGN §4): one agent has
two slots due at the same moment (the higher priority is woken first, the
other is deferred while the agent is busy and woken the moment it is idle),
another gets a slot due while it is still working, and the replies cover
progress, DONE with a note, PAUSE/RESUME, a markdown `**Done**`, a chatty
"Done with…" that is only progress, and ABORT.

Timing is real: each wake is reported with how late it was against the slot's
`scheduled_at`, and the summary sums it up. `--seconds` is a hard bound: when
it runs out the demo stops the agents and the moderator and summarises what it
has, still exiting 0.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar, TextIO, cast
from zoneinfo import ZoneInfo

from bot.app.logs import RedactSecrets, formatter_for, parse_level
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.calendar import CalendarError, SlotNotFound, TransitionConflict
from bot.core.clock import Clock, SystemClock
from bot.core.events import (
    AgentWoken,
    Event,
    SlotClaimed,
    SlotDeferred,
    SlotEnded,
    SlotEvent,
)
from bot.core.models import Action, Slot, SlotCreate, SlotStatus
from bot.core.moderator import Moderator
from bot.core.prompt import DEFAULT_WAKE_TEMPLATE
from bot.core.reply_words import parse_reply
from bot.core.state import StateStore
from bot.core.waker import WakeResult
from bot.presenters.events import TROUBLE, event_line
from bot.presenters.formatting import one_line
from bot.wakers.chain import WakerChain
from bot.wakers.console import ConsoleWaker, console_channel

log = logging.getLogger(__name__)

MIN_AGENTS = 1
MAX_AGENTS = 12
#: The safety-net loops run as in production; the demo is over long before they tick.
SYNC_INTERVAL_S = 300.0
CHECK_INTERVAL_S = 30.0
#: The exit status after Ctrl-C (128 + SIGINT), as the command line uses.
INTERRUPTED = 130
#: How long an in-flight wake may take to finish when the demo stops.
STOP_GRACE_S = 1.0
DEFAULT_AGENTS = ("scout", "writer", "reviewer")
#: The moderator's (made-up) Discord user id, for an agent that mentions it in a reply.
MODERATOR_USER_ID = 100000000000000001
TIMEZONE = ZoneInfo("UTC")


# ---- the scenario -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """The agent works `after_s` seconds, then posts `text` in the slot's channel."""

    after_s: float
    text: str


@dataclass(frozen=True, slots=True)
class DemoSlot:
    agent: str
    due_s: float
    priority: int
    title: str
    prompt: str
    script: tuple[Step, ...]
    expect: SlotStatus
    #: What this slot is in the scenario to show (printed in the plan).
    shows: str
    estimated_duration_min: int = 15


BASE_PLAN: tuple[DemoSlot, ...] = (
    DemoSlot(
        agent="scout",
        due_s=1.5,
        priority=90,
        title="Morning scan",
        prompt="Scan the three bug feeds for overnight reports and post a summary in #reports.",
        script=(
            Step(0.6, "Scanning the feeds, 2 of 3 done..."),
            Step(0.8, "DONE: summary posted"),
        ),
        expect=SlotStatus.FINISHED,
        shows="two scout slots due at once: the higher priority first",
    ),
    DemoSlot(
        agent="scout",
        due_s=1.5,
        priority=40,
        title="Triage inbox",
        prompt="Label the new issues in the tracker; close the duplicates.",
        script=(Step(0.7, "**Done** — 4 issues labelled, 1 duplicate closed"),),
        expect=SlotStatus.FINISHED,
        shows="...the lower one is deferred, woken when scout is idle",
    ),
    DemoSlot(
        agent="writer",
        due_s=2.0,
        priority=70,
        title="Draft release notes",
        prompt="Draft the release notes for v1.4 from the merged pull requests.",
        script=(
            Step(0.5, "On it: reading the merged pull requests."),
            Step(0.5, "Done with the outline, now the details."),
            Step(0.5, "PAUSE: waiting for the changelog from the build"),
            Step(1.0, "RESUME"),
            Step(0.5, "**Done**"),
        ),
        expect=SlotStatus.FINISHED,
        shows='progress, "Done with…" (still progress), PAUSE, RESUME',
    ),
    DemoSlot(
        agent="writer",
        due_s=3.0,
        priority=60,
        title="Update the FAQ",
        prompt="Add the two questions from yesterday's support thread to the FAQ.",
        script=(Step(0.8, "DONE: FAQ updated, 2 entries added"),),
        expect=SlotStatus.FINISHED,
        shows="due while writer is busy: deferred, woken once idle",
    ),
    DemoSlot(
        agent="reviewer",
        due_s=2.5,
        priority=50,
        title="Review PR #42",
        prompt="Review pull request #42 (the retry logic); approve or request changes.",
        script=(
            Step(0.6, "Reading the diff."),
            Step(0.7, f"<@{MODERATOR_USER_ID}> done: approved with two comments"),
        ),
        expect=SlotStatus.FINISHED,
        shows="a reply that starts with a mention: `<@…> done: …`",
    ),
    DemoSlot(
        agent="reviewer",
        due_s=5.0,
        priority=80,
        title="Deploy to staging",
        prompt="Deploy the reviewed build to staging and run the smoke tests.",
        script=(
            Step(0.5, "Looking for the deploy key..."),
            Step(0.5, "ABORT: missing credentials"),
        ),
        expect=SlotStatus.ABORTED,
        shows="the agent gives up: ABORT with a reason",
    ),
)


def extra_agent_name(index: int) -> str:
    """Agents beyond the three named ones (`--agents 5` adds agent-4 and agent-5)."""
    return f"agent-{index}"


def demo_plan(agents: int = len(DEFAULT_AGENTS)) -> list[DemoSlot]:
    """The scenario: the named agents' slots, then one check-in per extra agent."""
    named = DEFAULT_AGENTS[:agents]
    plan = [slot for slot in BASE_PLAN if slot.agent in named]
    for index in range(len(DEFAULT_AGENTS) + 1, agents + 1):
        plan.append(
            DemoSlot(
                agent=extra_agent_name(index),
                due_s=1.5 + 0.4 * (index - len(DEFAULT_AGENTS)),
                priority=50,
                title="Routine check-in",
                prompt="Check the job queue and report anything stuck.",
                script=(Step(0.5, "Queue looks healthy."), Step(0.5, "COMPLETE: all quiet")),
                expect=SlotStatus.FINISHED,
                shows="one more agent, woken on time in parallel",
            )
        )
    return plan


def agent_names(agents: int) -> list[str]:
    names = list(DEFAULT_AGENTS[:agents])
    names += [extra_agent_name(i) for i in range(len(DEFAULT_AGENTS) + 1, agents + 1)]
    return names


# ---- what the demo records ------------------------------------------------------


@dataclass(slots=True)
class SlotRecord:
    """The demo's own view of one slot, for the story and the summary."""

    plan: DemoSlot
    slot_id: str
    scheduled_at: datetime
    woken_at: datetime | None = None
    wake_order: int | None = None
    ended_at: datetime | None = None
    deferred: bool = False
    pauses: int = 0
    note: str | None = None
    status: SlotStatus = SlotStatus.NOT_STARTED


@dataclass(slots=True)
class Wake:
    """A wake message as the agent receives it."""

    slot_id: str
    channel: str


@dataclass(slots=True)
class Story:
    """Prints the run as it happens, each line stamped with seconds since the start."""

    out: TextIO
    origin: datetime
    clock: Clock

    def at(self, moment: datetime) -> float:
        return (moment - self.origin).total_seconds()

    def say(self, text: str, moment: datetime | None = None) -> None:
        stamp = self.at(moment or self.clock.now())
        self.out.write(f"{stamp:+8.3f}s  {text}\n")
        self.out.flush()

    def plain(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()


def format_lateness(late: timedelta) -> str:
    ms = late.total_seconds() * 1000
    if abs(ms) < 1000:
        return f"{ms:+.0f} ms"
    return f"{ms / 1000:+.2f} s"


# ---- the stand-ins for Discord ----------------------------------------------------


class DeliveringWaker:
    """The console waker, plus delivery to the simulated agent (Discord's part of a wake).

    A real agent receives the wake message the moment it is posted, possibly
    before the moderator has recorded the wake; delivering from inside `wake`
    keeps that race in the demo instead of hiding it.
    """

    name = "console"

    def __init__(
        self,
        console: ConsoleWaker,
        inboxes: dict[str, asyncio.Queue[Wake]],
        channels: dict[str, tuple[str, str]],
    ) -> None:
        self._console = console
        self._inboxes = inboxes
        self._channels = channels
        self._delivered: set[str] = set()

    def can_wake(self, agent: AgentConfig) -> bool:
        return self._console.can_wake(agent)

    async def wake(self, agent: AgentConfig, slot: Slot, prompt: str) -> WakeResult:
        result = await self._console.wake(agent, slot, prompt)
        if result.ok and result.reference:
            self._channels[result.reference] = (agent.id, slot.id)
        inbox = self._inboxes.get(agent.id)
        if result.ok and inbox is not None and slot.id not in self._delivered:
            # a repeated wake finds the same channel and posts nothing: nothing to deliver
            self._delivered.add(slot.id)
            channel = result.reference or console_channel(agent.id, slot.id)
            inbox.put_nowait(Wake(slot.id, channel))
        return result

    async def notify(self, agent: AgentConfig, slot: Slot, text: str) -> bool:
        return await self._console.notify(agent, slot, text)


class ReplyDesk:
    """What the reply listener does with a message in a wake channel (DESIGN §6).

    Only the channel's own agent steers the slot; its first word decides the
    action (`parse_reply`), anything else is progress. Each state change is
    acknowledged in the channel without a mention; a refusal is explained.
    """

    _ACK: ClassVar[Mapping[Action, str]] = {
        Action.COMPLETE: "marked FINISHED",
        Action.ABORT: "marked ABORTED",
        Action.PAUSE: "paused; reply RESUME to carry on",
        Action.RESUME: "resumed",
    }

    def __init__(
        self,
        moderator: Moderator,
        story: Story,
        records: dict[str, SlotRecord],
        channels: dict[str, tuple[str, str]],
    ) -> None:
        self._moderator = moderator
        self._story = story
        self._records = records
        #: channel -> (agent, slot id), written by the waker as it wakes (the channel ledger)
        self._channels = channels

    async def post(self, channel: str, author: str, text: str) -> None:
        self._story.say(f"[{channel}] {author}: {text}")
        owner = self._channels.get(channel)
        if owner is None or owner[0] != author:
            return  # not a wake channel, or not its agent: changes nothing
        agent_id, slot_id = owner
        reply = parse_reply(text)
        if reply.action is None:
            await self._moderator.record_progress(slot_id, reply.note)
            self._story.say(f"[{channel}] (moderator reads this as progress; the slot stays open)")
            return
        note = reply.note or None
        try:
            slot = await self._moderator.apply_action(
                slot_id, reply.action, note=note, source=f"reply by {author}"
            )
        except TransitionConflict as exc:
            self._story.say(f"[{channel}] moderator: cannot do that now: {exc.detail}")
            return
        except SlotNotFound:
            self._story.say(f"[{channel}] moderator: this slot is no longer in the calendar")
            return
        except CalendarError as exc:
            self._story.say(f"[{channel}] moderator: the calendar is unavailable ({exc.detail})")
            return
        record = self._records.get(slot_id)
        if record is not None and slot.status.is_final:
            record.note = note
        if record is not None and reply.action is Action.PAUSE:
            record.pauses += 1
        ack = self._ACK.get(reply.action, f"now {slot.status.value}")
        if note:
            ack += f" ({note})"
        if slot.status.is_final:
            ack += f" — {agent_id} is idle"
        self._story.say(f"[{channel}] moderator: {ack}")


class SimulatedAgent:
    """An agent bot: reads each wake, "works", posts its scripted replies; done when all are."""

    def __init__(
        self,
        agent_id: str,
        scripts: dict[str, tuple[Step, ...]],
        desk: ReplyDesk,
        clock: Clock,
    ) -> None:
        self.agent_id = agent_id
        self.inbox: asyncio.Queue[Wake] = asyncio.Queue()
        self._scripts = dict(scripts)
        self._desk = desk
        self._clock = clock

    async def run(self) -> None:
        while self._scripts:
            wake = await self.inbox.get()
            script = self._scripts.pop(wake.slot_id, None)
            if script is None:
                log.info("agent %s: no script for slot %s", self.agent_id, wake.slot_id)
                continue
            for step in script:
                await self._clock.sleep(step.after_s)
                await self._desk.post(wake.channel, self.agent_id, step.text)


# ---- the story --------------------------------------------------------------------


class Narrator:
    """Turns the core's events into the story and keeps what the summary needs."""

    def __init__(self, story: Story, records: dict[str, SlotRecord]) -> None:
        self._story = story
        self._records = records
        self._woken = 0
        self.problems: list[str] = []

    def _title(self, slot_id: str | None) -> str:
        record = self._records.get(slot_id or "")
        return f"“{record.plan.title}”" if record is not None else f"slot {slot_id}"

    def on_event(self, event: Event) -> None:
        slot_id = event.slot_id if isinstance(event, SlotEvent) else None
        record = self._records.get(slot_id or "")
        who = event.agent_id
        if record is None:
            if isinstance(event, TROUBLE):
                self._trouble(event, slot_id)
            return
        if isinstance(event, SlotClaimed):
            self._story.say(
                f"{who}: {self._title(slot_id)} is due (priority {record.plan.priority}) "
                f"and {who} is idle: claimed, waking {who} in a private channel",
                event.at,
            )
        elif isinstance(event, AgentWoken):
            self._woken += 1
            record.woken_at = event.at
            record.wake_order = self._woken
            late = format_lateness(event.at - record.scheduled_at)
            self._story.say(
                f"{who}: woken for {self._title(slot_id)} {late} after its scheduled time",
                event.at,
            )
        elif isinstance(event, SlotDeferred):
            record.deferred = True
            self._story.say(
                f"{who}: {self._title(slot_id)} is due (priority {record.plan.priority}) "
                f"but {who} is busy: deferred, to be woken once {who} is idle",
                event.at,
            )
        elif isinstance(event, SlotEnded):
            record.ended_at = event.at  # the reply desk tells this part of the story
        elif isinstance(event, TROUBLE):
            self._trouble(event, slot_id)

    def _trouble(self, event: Event, slot_id: str | None) -> None:
        text = event_line(event, self._title(slot_id))
        self.problems.append(text)
        self._story.say(text, event.at)


# ---- the run ------------------------------------------------------------------------


class DemoError(Exception):
    """A problem the user can act on, printed as one line (never a traceback)."""


@dataclass(slots=True)
class Outcome:
    origin: datetime
    records: list[SlotRecord]
    stopped_early: bool
    interrupted: bool
    problems: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)


async def _run(
    plan: Sequence[DemoSlot], names: Sequence[str], seconds: float, out: TextIO, workdir: Path
) -> Outcome:
    started = time.monotonic()
    clock = SystemClock()
    try:
        calendar = await EmbeddedCalendar.open(
            workdir / "calendar.db", timezone=TIMEZONE, clock=clock
        )
    except CalendarError as exc:
        raise DemoError(f"could not create the demo calendar: {exc.detail}") from None
    try:
        # Made here, so the warning about a missing state file (a mistyped
        # STATE_PATH in a real run) does not apply to this fresh one.
        (workdir / "state.db").touch()
        state = await StateStore.open(workdir / "state.db", clock=clock)
    except Exception as exc:
        await calendar.close()
        raise DemoError(f"could not create the demo state file in {workdir}: {exc}") from None
    try:
        deadline = started + seconds
        return await _play(plan, names, deadline, seconds, out, clock, calendar, state)
    finally:
        await state.close()
        await calendar.close()


async def _play(
    plan: Sequence[DemoSlot],
    names: Sequence[str],
    deadline: float,
    seconds: float,
    out: TextIO,
    clock: Clock,
    calendar: EmbeddedCalendar,
    state: StateStore,
) -> Outcome:
    origin = clock.now()
    story = Story(out, origin, clock)
    records: dict[str, SlotRecord] = {}
    for item in plan:
        slot = await calendar.create_slot(
            SlotCreate(
                agent_id=item.agent,
                scheduled_at=origin + timedelta(seconds=item.due_s),
                estimated_duration_min=item.estimated_duration_min,
                priority=item.priority,
                title=item.title,
                prompt=item.prompt,
                event_data={"demo": True},
            )
        )
        records[slot.id] = SlotRecord(plan=item, slot_id=slot.id, scheduled_at=slot.scheduled_at)
    _print_plan(story, list(records.values()), origin)

    inboxes: dict[str, asyncio.Queue[Wake]] = {}
    channels: dict[str, tuple[str, str]] = {}
    chain = WakerChain([DeliveringWaker(ConsoleWaker(out), inboxes, channels)], timeout_s=10.0)
    moderator = Moderator(
        [AgentConfig(id=name) for name in names],
        calendar,
        state,
        chain,
        clock,
        timezone=TIMEZONE,
        check_interval_s=CHECK_INTERVAL_S,
        wake_template=DEFAULT_WAKE_TEMPLATE,
        notifier=chain,
    )
    narrator = Narrator(story, records)
    moderator.events.subscribe(Event, narrator.on_event)
    desk = ReplyDesk(moderator, story, records, channels)
    agents: list[SimulatedAgent] = []
    for name in names:
        scripts = {sid: r.plan.script for sid, r in records.items() if r.plan.agent == name}
        agent = SimulatedAgent(name, scripts, desk, clock)
        inboxes[name] = agent.inbox
        agents.append(agent)

    tasks: list[asyncio.Task[None]] = []
    stopped_early = interrupted = False
    try:
        await moderator.start()
        moderator.start_loops(SYNC_INTERVAL_S)
        story.say(
            f"moderator started: {len(names)} agent(s) synced; each agent's timer now sleeps "
            "until its next slot is due"
        )
        for agent in agents:
            task = asyncio.create_task(agent.run(), name=f"demo-agent:{agent.agent_id}")
            task.add_done_callback(_log_task_failure)
            tasks.append(task)
        try:
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
        except asyncio.CancelledError:
            # Ctrl-C: asyncio.run cancels this task. Stop as at the bound and still summarise.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            interrupted = True
            story.plain()
            story.say("interrupted: stopping the agents and the moderator")
        else:
            if pending:
                stopped_early = True
                story.plain()
                story.say(f"--seconds {seconds:g} reached: stopping the agents and the moderator")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await moderator.stop(grace_s=STOP_GRACE_S)

    crashed = [
        f"simulated agent {t.get_name().removeprefix('demo-agent:')} failed: "
        f"{type(t.exception()).__name__}: {t.exception()}"
        for t in tasks
        if t.done() and not t.cancelled() and t.exception() is not None
    ]
    for slot in await calendar.list_slots():
        record = records.get(slot.id)
        if record is not None:
            record.status = slot.status
    ordered = sorted(
        records.values(),
        key=lambda r: (r.wake_order is None, r.wake_order or 0, r.scheduled_at, r.slot_id),
    )
    return Outcome(
        origin=origin,
        records=ordered,
        stopped_early=stopped_early,
        interrupted=interrupted,
        problems=narrator.problems,
        crashed=crashed,
    )


def _log_task_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("demo task %s failed", task.get_name(), exc_info=task.exception())


def _print_plan(story: Story, records: list[SlotRecord], origin: datetime) -> None:
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


# ---- the summary ----------------------------------------------------------------------

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


def _print_summary(out: TextIO, outcome: Outcome, took_s: float) -> None:
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


# ---- the entry point ---------------------------------------------------------------------


def _console() -> TextIO:
    """stdout, made safe for the box-drawing and quote characters the story uses."""
    stream = sys.stdout
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "─“”…—".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            reconfigure(errors="replace")
    return stream


class _DemoLogHandler(logging.StreamHandler[TextIO]):
    """The demo's own stderr handler, removed again when the demo returns."""


def _quiet_logging() -> Callable[[], None]:
    """WARNING on stderr unless LOG_LEVEL says otherwise; answers how to undo it.

    Undone afterwards so an in-process caller (tests) keeps its own logging.
    """
    try:
        level = parse_level((os.environ.get("LOG_LEVEL") or "WARNING").strip().upper())
        formatter = formatter_for((os.environ.get("LOG_FORMAT") or "text").strip().lower())
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    handler = _DemoLogHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(level)

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(before)
        handler.close()

    return undo


def check_arguments(agents: int, seconds: float) -> str | None:
    """What is wrong with the options, as a sentence; None when they are fine."""
    if not MIN_AGENTS <= agents <= MAX_AGENTS:
        return f"--agents must be between {MIN_AGENTS} and {MAX_AGENTS}; got {agents}"
    if not math.isfinite(seconds) or seconds <= 0:
        return f"--seconds must be a positive number of seconds; got {seconds:g}"
    return None


def run_demo(agents: int = 3, seconds: float = 20.0, *, out: TextIO | None = None) -> int:
    """Run the demo and summarise it.

    Answers 0 when it ran (even when `seconds` cut it short), 130 after Ctrl-C
    (summarised too), 2 for bad options and 1 when something failed.
    """
    problem = check_arguments(agents, seconds)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        undo_logging = _quiet_logging()
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    guarded = _PipeGuard(out if out is not None else _console())
    try:
        code = _demo(agents, seconds, cast(TextIO, guarded))
    finally:
        undo_logging()
    if guarded.broken:
        # the reader went away (`| head`): nothing left to tell, and nobody to tell it to
        _silence_stdout()
        return 1
    return code


def _demo(agents: int, seconds: float, stream: TextIO) -> int:
    started = time.monotonic()
    try:
        workdir = Path(tempfile.mkdtemp(prefix="calendar-moderator-demo-"))
    except OSError as exc:
        print(f"error: the demo could not make a temporary folder: {exc}", file=sys.stderr)
        return 1
    try:
        plan = demo_plan(agents)
        names = agent_names(agents)
        stream.write(
            f"calendar-moderator demo: {len(names)} simulated agent(s), {len(plan)} slots, "
            "no Discord, nothing configured.\n"
            f"A throw-away calendar and state file in {workdir} (deleted at the end).\n"
            "Each wake is printed as the agent would see it in its private channel; the\n"
            "agents' replies go through the same path as a reply on Discord.\n\n"
        )
        stream.flush()
        outcome = asyncio.run(_run(plan, names, seconds, stream, workdir))
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        log.debug("the demo failed", exc_info=True)
        print(
            f"error: the demo failed: {type(exc).__name__}: {exc} "
            "(LOG_LEVEL=DEBUG shows the details)",
            file=sys.stderr,
        )
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _print_summary(stream, outcome, time.monotonic() - started)
    for text in outcome.crashed:
        print(f"error: {text}", file=sys.stderr)
    if outcome.crashed:
        return 1
    return INTERRUPTED if outcome.interrupted else 0


class _PipeGuard(io.TextIOBase):
    """The output stream, minus the BrokenPipeError of a reader that left (`| head`).

    Without it the failure would surface wherever the story happens to be
    printed (inside the waker, an event hook, an agent) as a logged traceback.
    """

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self._inner = inner
        self.broken = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._inner.write(text)
            except BrokenPipeError:
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._inner.flush()
            except BrokenPipeError:
                self.broken = True


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
