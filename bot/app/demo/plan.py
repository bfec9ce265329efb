"""The demo's scenario: which agents, which slots, and what each agent replies.

Chosen to show the rules that matter (DESIGN §4): one agent has two slots due
at the same moment (the higher priority is woken first, the other is deferred
while the agent is busy and woken the moment it is idle), another gets a slot
due while it is still working, and the replies cover progress, DONE with a
note, PAUSE/RESUME, a markdown `**Done**`, a chatty "Done with…" that is only
progress, and ABORT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.core.models import SlotStatus

DEFAULT_AGENTS: Final = ("scout", "writer", "reviewer")
#: The moderator's (made-up) Discord user id, for an agent that mentions it in a reply.
MODERATOR_USER_ID: Final = 100000000000000001


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
