"""Running the demo: the real calendar, state store and moderator in a throw-away folder.

Timing is real: each wake is reported with how late it was against the
slot's `scheduled_at`, and the summary sums it up. `--seconds` is a hard
bound: when it runs out the demo stops the agents and the moderator and
summarises what it has, still exiting 0.
"""

from __future__ import annotations

import asyncio
import logging
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TextIO, cast
from zoneinfo import ZoneInfo

from bot.app.demo.agents import DeliveringWaker, DemoReplies, SimulatedAgent, Wake
from bot.app.demo.plan import DemoSlot, agent_names, demo_plan
from bot.app.demo.story import Narrator, SlotRecord, Story
from bot.app.demo.summary import Outcome, print_plan, print_summary
from bot.app.demo.terminal import DemoError, PipeGuard, console, quiet_logging, silence_stdout
from bot.calendar.store import EmbeddedCalendar
from bot.core.agents import AgentConfig
from bot.core.calendar import CalendarError
from bot.core.clock import Clock, SystemClock
from bot.core.events import Event
from bot.core.models import SlotCreate
from bot.core.moderator import Moderator
from bot.core.prompt import DEFAULT_WAKE_TEMPLATE
from bot.core.state import StateStore
from bot.core.tasks import IN_FLIGHT_GRACE_S, cancel_and_wait, log_task_end
from bot.presenters.console import ConsoleWording
from bot.wakers.chain import WakerChain
from bot.wakers.console import ConsoleWaker

log = logging.getLogger(__name__)

MIN_AGENTS = 1
MAX_AGENTS = 12
#: The safety-net loops run as in production; the demo is over long before they tick.
SYNC_INTERVAL_S = 300.0
CHECK_INTERVAL_S = 30.0
#: The exit status after Ctrl-C (128 + SIGINT), as the command line uses.
INTERRUPTED = 130
TIMEZONE = ZoneInfo("UTC")


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
        undo_logging = quiet_logging()
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    guarded = PipeGuard(out if out is not None else console())
    try:
        code = _demo(agents, seconds, cast(TextIO, guarded))
    finally:
        undo_logging()
    if guarded.broken:
        # the reader went away (`| head`): nothing left to tell, and nobody to tell it to
        silence_stdout()
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
    print_summary(stream, outcome, time.monotonic() - started)
    for text in outcome.crashed:
        print(f"error: {text}", file=sys.stderr)
    if outcome.crashed:
        return 1
    return INTERRUPTED if outcome.interrupted else 0


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
    print_plan(story, list(records.values()), origin)

    inboxes: dict[str, asyncio.Queue[Wake]] = {}
    channels: dict[str, tuple[str, str]] = {}
    chain = WakerChain(
        [DeliveringWaker(ConsoleWaker(out, words=ConsoleWording()), inboxes, channels)],
        timeout_s=10.0,
    )
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
    desk = DemoReplies(moderator, story, records, channels)
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
            task.add_done_callback(log_task_end)
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
        await cancel_and_wait(*tasks)
        await moderator.stop(grace_s=IN_FLIGHT_GRACE_S)

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
